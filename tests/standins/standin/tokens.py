"""Bootstrap tokens: their Secrets, their expiry and the JWS signatures on cluster-info."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
import string
from typing import Any

TOKEN = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
TOKEN_ID = re.compile(r"^[a-z0-9]{6}$")
SECRET_TYPE = "bootstrap.kubernetes.io/token"
DEFAULT_GROUP = "system:bootstrappers:kubeadm:default-node-token"
_ALPHABET = string.ascii_lowercase + string.digits


def generate() -> str:
    pick = secrets.choice
    return "".join(pick(_ALPHABET) for _ in range(6)) + "." + "".join(
        pick(_ALPHABET) for _ in range(16))


def parse_duration(text: str) -> dt.timedelta:
    """A Go duration such as 24h0m0s, 2h, 90m or 0 (no expiry)."""
    if text in ("0", "0s"):
        return dt.timedelta(0)
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f'time: invalid duration "{text}"')
    return dt.timedelta(seconds=sum(float(n) * units[u] for n, u in parts))


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret_for(token: str, ttl: dt.timedelta, usages: list[str], groups: list[str],
               description: str = "") -> dict[str, Any]:
    match = TOKEN.match(token)
    if not match:
        raise ValueError(f'the bootstrap token "{token}" was not of the form '
                         '"[a-z0-9]{6}.[a-z0-9]{16}"')
    token_id, token_secret = match.groups()
    data = {"token-id": token_id, "token-secret": token_secret,
            "auth-extra-groups": ",".join(groups)}
    for usage in usages:
        data[f"usage-bootstrap-{usage}"] = "true"
    if ttl:
        expires = dt.datetime.now(dt.UTC) + ttl
        data["expiration"] = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    if description:
        data["description"] = description
    return {"apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
            "metadata": {"name": f"bootstrap-token-{token_id}", "namespace": "kube-system"},
            "data": {key: _b64(value) for key, value in data.items()}}


def secret_fields(secret: dict[str, Any]) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in
            (secret.get("data") or {}).items()}


def expired(fields: dict[str, str]) -> bool:
    stamp = fields.get("expiration")
    if not stamp:
        return False
    when = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    return when <= dt.datetime.now(dt.UTC)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def sign(payload: str, token_id: str, token_secret: str) -> str:
    """A detached JWS (HS256) over the payload, as the bootstrap signer writes it."""
    header = _b64url(b'{"alg":"HS256","kid":"' + token_id.encode() + b'"}')
    body = _b64url(payload.encode())
    mac = hmac.new(token_secret.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}..{_b64url(mac)}"


def verify(payload: str, detached: str, token_id: str, token_secret: str) -> bool:
    return hmac.compare_digest(sign(payload, token_id, token_secret), detached)
