"""Kubeconfig files: write them as kubeadm does, read them as client-go does."""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from standin import host, yamlio


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def build(
    *,
    cluster: str,
    server: str,
    ca_pem: str,
    user: str,
    cert_pem: str | None = None,
    key_pem: str | None = None,
    cert_file: str | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """One cluster, one user, one context, the current one (kubeadm's layout)."""
    credentials: dict[str, str] = {}
    if cert_pem and key_pem:
        credentials = {"client-certificate-data": b64(cert_pem), "client-key-data": b64(key_pem)}
    elif cert_file:
        credentials = {"client-certificate": cert_file, "client-key": cert_file}
    elif token:
        credentials = {"token": token}
    context = f"{user}@{cluster}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"cluster": {"certificate-authority-data": b64(ca_pem), "server": server},
                      "name": cluster}],
        "contexts": [{"context": {"cluster": cluster, "user": user}, "name": context}],
        "current-context": context,
        "preferences": {},
        "users": [{"name": user, "user": credentials}],
    }


def write(target: Path, config: dict[str, Any]) -> None:
    host.write_file(target, yamlio.dump(config), mode=0o600)


@dataclass(frozen=True)
class Credentials:
    """What a client needs to reach one cluster as one user."""

    server: str
    ca_pem: str | None
    cert_pem: str | None
    key_pem: str | None
    token: str | None
    source: str

    @property
    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.server)
        return parts.hostname or "", parts.port or 443

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if self.ca_pem:
            context.load_verify_locations(cadata=self.ca_pem)
        else:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.cert_pem and self.key_pem:
            load_client_pair(context, self.cert_pem, self.key_pem)
        return context


def load_client_pair(context: ssl.SSLContext, cert_pem: str, key_pem: str) -> None:
    """ssl only loads key pairs from files: write them to a private directory for a moment."""
    with tempfile.TemporaryDirectory(prefix="standin-tls-") as directory:
        os.chmod(directory, 0o700)
        pair = Path(directory) / "pair.pem"
        descriptor = os.open(pair, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(descriptor, (cert_pem + key_pem).encode())
        os.close(descriptor)
        context.load_cert_chain(str(pair))


def _data_or_file(entry: dict[str, Any], key: str, base: Path) -> str | None:
    data = entry.get(f"{key}-data")
    if data:
        return base64.b64decode(data).decode()
    named = entry.get(key)
    if named:
        target = Path(named) if Path(named).is_absolute() else base / named
        return host.path(str(target)).read_text()
    return None


def load(target: Path) -> Credentials:
    """The current context of a kubeconfig file (host.Failure when it cannot be used)."""
    shown = host.display(target)
    try:
        document = yamlio.load_one(target.read_text(), shown)
    except FileNotFoundError:
        raise host.Failure(f"stat {shown}: no such file or directory") from None
    except ValueError as exc:
        raise host.Failure(str(exc)) from None
    if not isinstance(document, dict):
        raise host.Failure(f"error loading config file \"{shown}\": not a kubeconfig")
    current = document.get("current-context")
    def by_name(section: str, field: str) -> dict[Any, Any]:
        return {item.get("name"): item.get(field, {}) for item in document.get(section) or []}

    contexts = by_name("contexts", "context")
    clusters = by_name("clusters", "cluster")
    users = by_name("users", "user")
    if not current or current not in contexts:
        raise host.Failure(f"invalid configuration: no configuration has been provided ({shown} "
                           "has no usable current-context)")
    context = contexts[current]
    cluster = clusters.get(context.get("cluster"))
    if not cluster or not cluster.get("server"):
        raise host.Failure(f"invalid configuration: context {current!r} in {shown} names no "
                           "cluster with a server")
    user = users.get(context.get("user"), {}) or {}
    base = Path(str(target)).parent
    node_base = Path(host.display(base))
    try:
        cert_pem = _data_or_file(user, "client-certificate", node_base)
        key_pem = _data_or_file(user, "client-key", node_base)
        ca_pem = _data_or_file(cluster, "certificate-authority", node_base)
    except OSError as exc:
        raise host.Failure(f"{shown}: {exc}") from None
    if cluster.get("insecure-skip-tls-verify"):
        ca_pem = None
    return Credentials(server=cluster["server"], ca_pem=ca_pem, cert_pem=cert_pem,
                       key_pem=key_pem, token=user.get("token"), source=shown)
