"""The site CA that signs the registry mirror's certificate (`taco mirror serve`).

A directory holds `ca.pem` (give it to the site as `mirrors.registry_ca`) and
`ca-key.pem` (0600, never leaves the deploy host). The CA is made on first use; a server
certificate is issued for the names and addresses the mirror is reached by, and issued
again when they change or it nears its end.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from taco.artifacts.lock import write_atomically
from taco.errors import ArtifactError

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

CA_CERT = "ca.pem"
CA_KEY = "ca-key.pem"
_CA_DAYS = 3650
_SERVER_DAYS = 825
# Issue a new server certificate when the old one has less than this left.
_RENEW_BEFORE = datetime.timedelta(days=30)


@dataclass(frozen=True)
class ServerCertificate:
    cert: Path
    key: Path
    ca: Path


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _write_private(path: Path, data: bytes) -> None:
    """A key file: created 0600 before anything is written to it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def ensure_ca(directory: Path, site_name: str = "taco") -> tuple[x509.Certificate,
                                                                  CertificateIssuerPrivateKeyTypes]:
    """The CA in `directory`, made there first if the directory holds none."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / CA_CERT, directory / CA_KEY
    if cert_path.exists() != key_path.exists():
        present, absent = (cert_path, key_path) if cert_path.exists() else (key_path, cert_path)
        raise ArtifactError(f"{present} exists but {absent} does not: a CA needs both; restore "
                            f"{absent.name} or remove {present.name} to make a new CA (nodes "
                            "that trust the old one must then get the new ca.pem)")
    if cert_path.exists():
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except (OSError, ValueError) as error:
            raise ArtifactError(f"{directory}: cannot read the CA ({error}); fix or remove "
                                f"{CA_CERT} and {CA_KEY}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ArtifactError(f"{key_path}: not an EC key written by taco; remove both files "
                                "to make a new CA")
        return cert, key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "taco"),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"{site_name} site CA")])
    start = _now() - datetime.timedelta(minutes=5)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=_CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    _write_private(key_path, _pem_key(key))
    write_atomically(cert_path, cert.public_bytes(serialization.Encoding.PEM).decode())
    return cert, key


def _alt_names(names: Iterable[str]) -> list[x509.GeneralName]:
    result: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            result.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            result.append(x509.DNSName(name))
    return result


def server_certificate(directory: Path, names: Iterable[str],
                       site_name: str = "taco") -> ServerCertificate:
    """A certificate for the mirror under `names` (host names or addresses), signed by the CA.

    Kept in the CA directory under a name derived from the sorted names, and reused
    while it is valid for a month more.
    """
    wanted = sorted(dict.fromkeys(names))
    if not wanted:
        raise ArtifactError("the registry certificate needs at least one name or address the "
                            "nodes reach it by: give --name")
    ca_cert, ca_key = ensure_ca(directory, site_name)
    label = hashlib.sha256("\n".join(wanted).encode()).hexdigest()[:12]
    cert_path = directory / f"registry-{label}.pem"
    key_path = directory / f"registry-{label}-key.pem"
    ca_path = directory / CA_CERT
    if cert_path.exists() and key_path.exists():
        existing = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if (existing.issuer == ca_cert.subject
                and existing.not_valid_after_utc - _RENEW_BEFORE > _now()):
            return ServerCertificate(cert_path, key_path, ca_path)
    key = ec.generate_private_key(ec.SECP256R1())
    start = _now() - datetime.timedelta(minutes=5)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, wanted[0])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=_SERVER_DAYS))
            .add_extension(x509.SubjectAlternativeName(_alt_names(wanted)), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_cert.public_key()), critical=False)  # type: ignore[arg-type]
            .sign(ca_key, hashes.SHA256()))
    _write_private(key_path, _pem_key(key))
    write_atomically(cert_path, cert.public_bytes(serialization.Encoding.PEM).decode())
    return ServerCertificate(cert_path, key_path, ca_path)
