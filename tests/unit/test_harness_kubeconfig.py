"""Generated kubeconfigs are self-contained, private, and load into the official client as intended."""

from __future__ import annotations

import stat
from pathlib import Path

from retrodiction_harness.certs import CertificateAuthority
from retrodiction_harness.kubeconfig import build_kubeconfig, load_configuration, write_kubeconfig

SERVER = "https://127.0.0.1:6443"


def test_kubeconfig_loads_with_embedded_ca_and_client_cert(tmp_path: Path) -> None:
    ca = CertificateAuthority.generate()
    admin = ca.issue_client("admin", ["system:masters"])
    path = write_kubeconfig(
        tmp_path / "kubeconfig", build_kubeconfig(SERVER, ca.cert_pem, admin, cluster="c", user="admin")
    )

    configuration = load_configuration(path)

    assert configuration.host == SERVER
    assert configuration.ssl_ca_cert is not None and configuration.cert_file and configuration.key_file
    assert Path(configuration.ssl_ca_cert).read_bytes() == ca.cert_pem
    assert Path(configuration.cert_file).read_bytes() == admin.cert_pem
    assert Path(configuration.key_file).read_bytes() == admin.key_pem


def test_kubeconfig_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    ca = CertificateAuthority.generate()
    config = build_kubeconfig(SERVER, ca.cert_pem, ca.issue_client("u"), cluster="c", user="u")
    path = write_kubeconfig(tmp_path / "kubeconfig", config)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
