"""Per-run mutual TLS (driver/tls.py): a CA of the run's own, one certificate it signs for every Dask role, and the
Secret that carries them; checked with cryptography and with Dask's own TLS contexts, in memory."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from functools import cache

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from distributed.security import Security

from retrodiction.driver.tls import VALIDITY, RunCertificates, make_certificates, tls_secret

RUN = {"name": "gdp-2024", "namespace": "team-a", "uid": "0b6a3c1e-1111-2222-3333-444455556666"}
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@cache
def _run_a() -> RunCertificates:
    return make_certificates("gdp-2024", "team-a", now=NOW)


@cache
def _run_b() -> RunCertificates:
    return make_certificates("cpi-2024", "team-b", now=NOW)


@cache
def _live(run: str, namespace: str) -> RunCertificates:
    """Certificates valid now, for handshakes (a handshake checks validity against the clock)."""
    return make_certificates(run, namespace)


def _cert(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


# --- the certificates ---------------------------------------------------------------------------------------------


def test_the_certificates_are_pem_text() -> None:
    certificates = _run_a()
    assert certificates.ca.startswith("-----BEGIN CERTIFICATE-----\n")
    assert certificates.ca.rstrip().endswith("-----END CERTIFICATE-----")
    assert certificates.cert.startswith("-----BEGIN CERTIFICATE-----\n")
    assert certificates.key.startswith("-----BEGIN PRIVATE KEY-----\n")
    assert certificates.key.rstrip().endswith("-----END PRIVATE KEY-----")
    assert len({certificates.ca, certificates.cert, certificates.key}) == 3


def test_the_certificate_is_signed_by_the_runs_ca() -> None:
    ca, cert = _cert(_run_a().ca), _cert(_run_a().cert)
    cert.verify_directly_issued_by(ca)
    assert cert.issuer == ca.subject


def test_the_ca_is_self_signed_and_may_sign_only_end_certificates() -> None:
    ca = _cert(_run_a().ca)
    ca.verify_directly_issued_by(ca)
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca is True
    assert constraints.value.path_length == 0
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign
    assert usage.crl_sign
    assert not usage.digital_signature


def test_the_ca_names_the_run() -> None:
    ca = _cert(_run_a().ca)
    [common_name] = ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert common_name.value == "retrodiction run team-a/gdp-2024"


def test_the_certificate_serves_and_authenticates_clients() -> None:
    cert = _cert(_run_a().cert)
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usage) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}


def test_the_certificate_is_not_a_ca() -> None:
    constraints = _cert(_run_a().cert).extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca is False


def test_the_certificate_names_the_namespaces_services() -> None:
    cert = _cert(_run_a().cert)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [
        "*.team-a.svc",
        "*.team-a.svc.cluster.local",
        "localhost",
    ]


def test_the_key_is_the_certificates_and_not_the_cas() -> None:
    certificates = _run_a()
    key = serialization.load_pem_private_key(certificates.key.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.curve, ec.SECP256R1)
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    def der(certificate: x509.Certificate) -> bytes:
        return certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    assert public == der(_cert(certificates.cert))
    assert public != der(_cert(certificates.ca))


def test_the_certificates_are_valid_from_just_before_now_for_a_year_and_a_day() -> None:
    for pem in (_run_a().ca, _run_a().cert):
        cert = _cert(pem)
        assert cert.not_valid_before_utc == NOW - timedelta(minutes=5)
        assert cert.not_valid_after_utc == NOW - timedelta(minutes=5) + VALIDITY
    assert timedelta(days=366) == VALIDITY


def test_without_a_time_the_certificates_are_valid_now() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    cert = _cert(make_certificates("gdp-2024", "team-a").cert)
    assert cert.not_valid_before_utc <= before
    assert cert.not_valid_after_utc > before + timedelta(days=365)


def test_two_runs_get_different_cas() -> None:
    a, b = _cert(_run_a().ca), _cert(_run_b().ca)
    assert a != b
    assert a.public_key() != b.public_key()
    assert a.serial_number != b.serial_number


def test_the_same_run_made_twice_gets_a_new_ca() -> None:
    again = make_certificates("gdp-2024", "team-a", now=NOW)
    assert again.ca != _run_a().ca
    assert again.key != _run_a().key


def test_a_certificate_of_one_run_does_not_verify_against_the_ca_of_another() -> None:
    with pytest.raises((InvalidSignature, ValueError)):
        _cert(_run_a().cert).verify_directly_issued_by(_cert(_run_b().ca))
    with pytest.raises((InvalidSignature, ValueError)):
        _cert(_run_b().cert).verify_directly_issued_by(_cert(_run_a().ca))


def test_a_run_name_too_long_for_a_common_name_is_cut_to_fit() -> None:
    certificates = make_certificates("r" * 253, "n" * 63, now=NOW)
    for pem in (certificates.ca, certificates.cert):
        [common_name] = _cert(pem).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        assert isinstance(common_name.value, str)
        assert len(common_name.value) == 64


# --- the Secret ---------------------------------------------------------------------------------------------------


def test_the_tls_secret_is_named_after_the_run_in_its_namespace() -> None:
    secret = tls_secret(RUN, _run_a())
    assert (secret["apiVersion"], secret["kind"], secret["type"]) == ("v1", "Secret", "Opaque")
    assert (secret["metadata"]["name"], secret["metadata"]["namespace"]) == ("gdp-2024-tls", "team-a")


def test_the_tls_secret_is_owned_by_the_run_without_blocking_its_deletion() -> None:
    assert tls_secret(RUN, _run_a())["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "training.retrodiction.dev/v1alpha1",
            "kind": "RetrodictionTraining",
            "name": "gdp-2024",
            "uid": RUN["uid"],
            "controller": True,
            "blockOwnerDeletion": False,
        }
    ]


def test_the_tls_secret_is_labelled_as_the_runs_tls() -> None:
    labels = tls_secret(RUN, _run_a())["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "tls"
    assert labels["training.retrodiction.dev/run-uid"] == RUN["uid"]
    assert labels["training.retrodiction.dev/run"] == "gdp-2024"


def test_the_tls_secret_holds_the_ca_the_certificate_and_its_key_as_string_data() -> None:
    certificates = _run_a()
    secret = tls_secret(RUN, certificates)
    assert secret["stringData"] == {
        "ca.crt": certificates.ca,
        "tls.crt": certificates.cert,
        "tls.key": certificates.key,
    }
    assert "data" not in secret


@pytest.mark.parametrize("missing", ["name", "namespace", "uid"])
def test_the_tls_secret_needs_the_runs_name_namespace_and_uid(missing: str) -> None:
    with pytest.raises(ValueError, match=missing):
        tls_secret({k: v for k, v in RUN.items() if k != missing}, _run_a())


# --- Dask reads the PEM text itself -------------------------------------------------------------------------------


def test_dask_security_accepts_the_in_memory_pem_text() -> None:
    certificates = _run_a()
    security = Security(
        tls_ca_file=certificates.ca,
        tls_client_cert=certificates.cert,
        tls_client_key=certificates.key,
        require_encryption=True,
    )
    args = security.get_connection_args("client")
    context = args["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert args["require_encryption"] is True


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> None:
    """A full TLS handshake between two contexts through memory buffers: no socket, no network."""
    server_in, server_out, client_in, client_out = (ssl.MemoryBIO() for _ in range(4))
    server_side = server.wrap_bio(server_in, server_out, server_side=True)
    client_side = client.wrap_bio(client_in, client_out, server_side=False)
    done = {"server": False, "client": False}
    for _ in range(20):
        for name, side in (("client", client_side), ("server", server_side)):
            if not done[name]:
                try:
                    side.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        server_in.write(client_out.read())
        client_in.write(server_out.read())
        if all(done.values()):
            # TLS 1.3 clients finish before the server has checked their certificate: exchange data to know.
            client_side.write(b"ping")
            server_in.write(client_out.read())
            assert server_side.read(4) == b"ping"
            return
    raise AssertionError("the handshake did not finish")


def _context(ca: str, certificates: RunCertificates, role: str) -> ssl.SSLContext:
    """Dask's TLS context for `role`, trusting `ca` and presenting `certificates`."""
    security = Security(
        tls_ca_file=ca,
        **{f"tls_{role}_cert": certificates.cert, f"tls_{role}_key": certificates.key},
        require_encryption=True,
    )
    args = security.get_listen_args(role) if role == "scheduler" else security.get_connection_args(role)
    context = args["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    return context


def test_a_scheduler_and_a_client_of_the_same_run_complete_a_mutual_tls_handshake() -> None:
    certificates = _live("gdp-2024", "team-a")
    _handshake(_context(certificates.ca, certificates, "scheduler"), _context(certificates.ca, certificates, "client"))


def test_a_client_with_another_runs_certificate_is_refused_by_the_runs_scheduler() -> None:
    a, b = _live("gdp-2024", "team-a"), _live("cpi-2024", "team-b")
    server = _context(a.ca, a, "scheduler")
    # The intruder even trusts run A's CA, so only the scheduler's check of its certificate can stop it.
    intruder = _context(a.ca, b, "client")
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        _handshake(server, intruder)


def test_a_client_of_another_run_does_not_trust_the_runs_scheduler() -> None:
    a, b = _live("gdp-2024", "team-a"), _live("cpi-2024", "team-b")
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        _handshake(_context(a.ca, a, "scheduler"), _context(b.ca, b, "client"))


def test_a_client_without_a_certificate_is_refused_by_the_runs_scheduler() -> None:
    certificates = _live("gdp-2024", "team-a")
    server = _context(certificates.ca, certificates, "scheduler")
    anonymous = ssl.create_default_context(cadata=certificates.ca)
    anonymous.check_hostname = False
    with pytest.raises(ssl.SSLError, match="PEER_DID_NOT_RETURN_A_CERTIFICATE"):
        _handshake(server, anonymous)


def test_certificates_that_have_expired_are_refused() -> None:
    expired = make_certificates("gdp-2024", "team-a", now=datetime.now(UTC) - VALIDITY - timedelta(days=1))
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate has expired"):
        _handshake(_context(expired.ca, expired, "scheduler"), _context(expired.ca, expired, "client"))
