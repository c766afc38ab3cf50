"""Encryption of the certificates kubeadm uploads for joining control planes.

Real kubeadm uses AES-256-GCM with the 32-byte certificate key; Python's standard library
has no AES, so the stand-in uses a SHA-256 keystream with an HMAC-SHA256 tag under the same
key. Same contract (wrong key -> "message authentication failed"), different cipher.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def _stream(key: bytes, nonce: bytes, size: int) -> bytes:
    blocks = []
    for counter in range((size + 31) // 32):
        blocks.append(hashlib.sha256(key + nonce + counter.to_bytes(8, "big")).digest())
    return b"".join(blocks)[:size]


def seal(key_hex: str, plaintext: bytes) -> bytes:
    key = bytes.fromhex(key_hex)
    nonce = secrets.token_bytes(12)
    body = bytes(a ^ b for a, b in zip(plaintext, _stream(key, nonce, len(plaintext)), strict=True))
    tag = hmac.new(key, nonce + body, hashlib.sha256).digest()[:16]
    return nonce + body + tag


def unseal(key_hex: str, sealed: bytes) -> bytes:
    try:
        key = bytes.fromhex(key_hex)
    except ValueError:
        raise ValueError("error decoding certificate key: encoding/hex: invalid byte") from None
    nonce, body, tag = sealed[:12], sealed[12:-16], sealed[-16:]
    if not hmac.compare_digest(hmac.new(key, nonce + body, hashlib.sha256).digest()[:16], tag):
        raise ValueError("cipher: message authentication failed")
    return bytes(a ^ b for a, b in zip(body, _stream(key, nonce, len(body)), strict=True))
