"""Per-run mutual TLS for the run's Dask cluster: a CA made for the run alone, and one certificate it signs.

The driver's init container makes them and stores them in a Secret owned by the run, in the run's namespace; the
scheduler, the workers and the driver receive them as environment (Dask reads PEM text from its configuration),
so nothing without the run's certificate can talk to its scheduler, whatever the cluster's network allows. The
CA's key is thrown away once the certificate is signed: nobody, the driver included, can make another.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from retrodiction.api.children import (
    TLS_CA_KEY,
    TLS_CERT_KEY,
    TLS_KEY_KEY,
    child_metadata,
    required_field,
    tls_secret_name,
)
from retrodiction.identity import COMPONENT_LABEL, COMPONENT_TLS

# Longer than any run should take; a run outliving it fails to connect and says so.
VALIDITY: Final = timedelta(days=366)


@dataclass(frozen=True)
class RunCertificates:
    ca: str
    cert: str
    key: str

    def as_secret_data(self) -> dict[str, str]:
        return {TLS_CA_KEY: self.ca, TLS_CERT_KEY: self.cert, TLS_KEY_KEY: self.key}


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def make_certificates(run_name: str, namespace: str, now: datetime | None = None) -> RunCertificates:
    """A CA for one run and a certificate it signs, for servers and clients alike (scheduler, workers, driver)."""
    moment = (now or datetime.now(UTC)) - timedelta(minutes=5)  # some clock skew between nodes
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"retrodiction run {namespace}/{run_name}"[:64])])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(moment)
        .not_valid_after(moment + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    # Dask checks the chain, not host names (pods are reached by address); the names are for people reading it.
    names = [f"*.{namespace}.svc", f"*.{namespace}.svc.cluster.local", "localhost"]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{run_name}"[:64])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(moment)
        .not_valid_after(moment + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return RunCertificates(ca=_pem(ca), cert=_pem(cert), key=key_pem)


def tls_secret(run_meta: Mapping[str, Any], certificates: RunCertificates) -> dict[str, Any]:
    """The Secret holding a run's certificates, owned by the run (without blockOwnerDeletion, which the driver's
    ServiceAccount could not set: it holds no permission on the run's finalizers)."""
    name = required_field(run_meta, "name")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": child_metadata(
            run_meta, tls_secret_name(name), {COMPONENT_LABEL: COMPONENT_TLS}, block_owner_deletion=False
        ),
        "stringData": certificates.as_secret_data(),
    }
