"""The site CA and the registry endpoint rules behind `taco mirror` (no registry runs here;
tests/integration/test_mirror_images.py runs skopeo and docker-registry for real)."""

from __future__ import annotations

import ipaddress
import stat
from typing import TYPE_CHECKING

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID

from taco.artifacts.ca import CA_CERT, CA_KEY, ensure_ca, server_certificate
from taco.artifacts.registry import Endpoint, registry_config
from taco.errors import ArtifactError, UsageError

if TYPE_CHECKING:
    from pathlib import Path


def test_the_ca_is_made_once_with_a_private_key_only_root_reads(tmp_path: Path) -> None:
    cert, _ = ensure_ca(tmp_path / "ca", "demo")
    assert stat.S_IMODE((tmp_path / "ca" / CA_KEY).stat().st_mode) == 0o600
    again, _ = ensure_ca(tmp_path / "ca", "demo")
    assert again.serial_number == cert.serial_number
    constraints = cert.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value
    assert constraints.ca is True


def test_a_server_certificate_names_every_address_and_is_signed_by_the_ca(
        tmp_path: Path) -> None:
    issued = server_certificate(tmp_path, ["10.77.0.1", "mirror.example"])
    cert = x509.load_pem_x509_certificate(issued.cert.read_bytes())
    ca = x509.load_pem_x509_certificate((tmp_path / CA_CERT).read_bytes())
    public = ca.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.77.0.1")]
    assert names.get_values_for_type(x509.DNSName) == ["mirror.example"]
    assert stat.S_IMODE(issued.key.stat().st_mode) == 0o600
    # The same names reuse the certificate; other names get their own.
    assert server_certificate(tmp_path, ["mirror.example", "10.77.0.1"]).cert == issued.cert
    assert server_certificate(tmp_path, ["10.77.0.2"]).cert != issued.cert


def test_a_half_ca_is_refused_rather_than_replaced(tmp_path: Path) -> None:
    ensure_ca(tmp_path)
    (tmp_path / CA_KEY).unlink()
    with pytest.raises(ArtifactError, match=r"ca-key\.pem does not"):
        ensure_ca(tmp_path)


def test_a_certificate_needs_a_name(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="--name"):
        server_certificate(tmp_path, [])


@pytest.mark.parametrize(("text", "address", "plain"), [
    ("10.0.0.1:5000", "10.0.0.1:5000", False),
    ("https://mirror:5000/", "mirror:5000", False),
    ("http://mirror:5000", "mirror:5000", True),
])
def test_registry_endpoints(text: str, address: str, plain: bool) -> None:
    endpoint = Endpoint.parse(text, what="--registry")
    assert (endpoint.address, endpoint.plain_http) == (address, plain)


def test_a_registry_with_a_path_or_plain_http_with_a_ca_is_a_usage_error(
        tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="host:port"):
        Endpoint.parse("https://mirror:5000/v2/x", what="--registry")
    with pytest.raises(UsageError, match="plain HTTP"):
        Endpoint.parse("http://mirror:5000", tmp_path / "ca.pem", what="--registry")


def test_mirror_paths_are_named_after_the_upstream_registry() -> None:
    class Pause:
        registry, repository, tag = "registry.k8s.io", "pause", "3.10.1"

    endpoint = Endpoint("mirror:5000")
    assert endpoint.reference(Pause()) == "docker://mirror:5000/registry.k8s.io/pause:3.10.1"
    assert (endpoint.reference(Pause(), "sha256:" + "a" * 64)
            == "docker://mirror:5000/registry.k8s.io/pause@sha256:" + "a" * 64)


def test_a_served_registry_is_read_only_and_uses_the_certificate(tmp_path: Path) -> None:
    config = yaml.safe_load(registry_config(tmp_path, "10.0.0.1:5000", read_only=True,
                                            cert=tmp_path / "c.pem", key=tmp_path / "k.pem"))
    assert config["storage"]["maintenance"]["readonly"] == {"enabled": True}
    assert config["storage"]["delete"] == {"enabled": False}
    assert config["http"]["tls"] == {"certificate": str(tmp_path / "c.pem"),
                                     "key": str(tmp_path / "k.pem")}
