"""Tenant API keys: minting, parsing and checking. Pure; the clock is passed in.

A key reads `ksk_<key id>.<secret>`: the id finds the row, the secret proves possession. Only
SHA-256 of the secret is stored (the secret is 256 random bits, so a fast hash is safe).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

PREFIX = "ksk_"


@dataclass(frozen=True, slots=True)
class NewKey:
    key_id: str
    secret_hash: bytes
    token: str  # shown to the operator once, never stored


@dataclass(frozen=True, slots=True)
class StoredKey:
    key_id: str
    tenant_id: str
    secret_hash: bytes
    expires_at: datetime | None
    revoked_at: datetime | None


def mint() -> NewKey:
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    return NewKey(key_id, secret_hash(secret), f"{PREFIX}{key_id}.{secret}")


def parse(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed token, else None."""
    if not token.startswith(PREFIX) or "." not in token or len(token) > 200:
        return None
    key_id, _, secret = token[len(PREFIX):].partition(".")
    return (key_id, secret) if key_id and secret else None


def verify(stored: StoredKey | None, secret: str, now: datetime) -> str | None:
    """The tenant the key belongs to, if the secret matches and the key is still valid."""
    if stored is None or stored.revoked_at is not None:
        return None
    if stored.expires_at is not None and stored.expires_at <= now:
        return None
    return stored.tenant_id if hmac.compare_digest(stored.secret_hash, secret_hash(secret)) else None


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()
