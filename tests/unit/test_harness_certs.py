"""The generated CA, serving and client certificates work for TLS as Kubernetes uses them (checked in memory)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from retrodiction_harness.certs import CertAndKey, CertificateAuthority, generate_signing_key

SERVER_NAMES = ["localhost", "kubernetes.default.svc"]
SERVER_IPS = ["127.0.0.1", "127.96.0.1"]


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.generate()


def _files(directory: Path, name: str, pair: CertAndKey) -> tuple[str, str]:
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    cert.write_bytes(pair.cert_pem)
    key.write_bytes(pair.key_pem)
    return str(cert), str(key)


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext, server_hostname: str) -> ssl.SSLObject:
    """Run a TLS handshake between the two contexts through memory buffers; return the server's end."""
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    server_end = server.wrap_bio(to_server, to_client, server_side=True)
    client_end = client.wrap_bio(to_client, to_server, server_hostname=server_hostname)
    done: set[str] = set()
    for _ in range(20):
        for name, end in (("client", client_end), ("server", server_end)):
            if name in done:
                continue
            try:
                end.do_handshake()
                done.add(name)
            except ssl.SSLWantReadError:
                pass
        if len(done) == 2:
            return server_end
    raise AssertionError("handshake did not finish")


def _contexts(ca: CertificateAuthority, tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(ca.cert_pem)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(*_files(tmp_path, "server", ca.issue_server("kube-apiserver", SERVER_NAMES, SERVER_IPS)))
    server.load_verify_locations(cafile=str(ca_file))
    server.verify_mode = ssl.CERT_REQUIRED
    client = ssl.create_default_context(cafile=str(ca_file))
    client.load_cert_chain(*_files(tmp_path, "admin", ca.issue_client("admin", ["system:masters"])))
    return server, client


@pytest.mark.parametrize("host", [*SERVER_NAMES, *SERVER_IPS])
def test_serving_cert_verifies_for_its_names_with_a_client_cert(
    ca: CertificateAuthority, tmp_path: Path, host: str
) -> None:
    server, client = _contexts(ca, tmp_path)
    server_end = _handshake(server, client, server_hostname=host)
    peer = server_end.getpeercert()
    assert peer is not None
    assert ((("commonName", "admin"),)) in peer["subject"]


def test_serving_cert_is_refused_for_another_name(ca: CertificateAuthority, tmp_path: Path) -> None:
    server, client = _contexts(ca, tmp_path)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(server, client, server_hostname="example.com")


def test_client_cert_from_another_ca_is_refused(ca: CertificateAuthority, tmp_path: Path) -> None:
    server, client = _contexts(ca, tmp_path)
    stranger = CertificateAuthority.generate("stranger").issue_client("admin", ["system:masters"])
    client.load_cert_chain(*_files(tmp_path, "stranger", stranger))
    with pytest.raises(ssl.SSLError):
        _handshake(server, client, server_hostname="localhost")


def test_client_cert_names_the_user_and_groups_as_kubernetes_reads_them(ca: CertificateAuthority) -> None:
    cert = x509.load_pem_x509_certificate(ca.issue_client("system:node:n1", ["system:nodes", "extra"]).cert_pem)
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == ["system:node:n1"]
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [
        "system:nodes",
        "extra",
    ]
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca.cert_pem))


def test_signing_key_public_half_matches_private_half() -> None:
    key = generate_signing_key()
    private = load_pem_private_key(key.private_pem, password=None)
    public = load_pem_public_key(key.public_pem)
    assert isinstance(private, rsa.RSAPrivateKey)
    assert isinstance(public, rsa.RSAPublicKey)
    assert private.public_key().public_numbers() == public.public_numbers()
