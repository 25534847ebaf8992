"""Webhook signing secrets at rest.

Signing a delivery (HMAC) needs the endpoint's secret in clear, so it cannot be hashed the way API
keys are; but a copy of the database (a backup, a replica, a dump) must not let anyone forge
deliveries. So each secret is sealed with AES-256-GCM under the first key of the operator's key
ring (KASKADE_NOTIFICATION_WEBHOOK_SECRET_KEYS, comma-separated, each at least 32 characters of
entropy), with the endpoint id as associated data: a sealed secret copied onto another endpoint's
row does not open. The other keys of the ring still open what they sealed, and the reseal job
moves every row to the current key (and seals secrets stored in clear before sealing existed).

Stored form: v1.<key id>.<nonce>.<ciphertext>, base64url without padding.
"""
from __future__ import annotations

import base64
import hashlib
import os
import uuid
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = "v1"
MIN_KEY_CHARS = 32


class SealError(ValueError):
    """A stored secret that does not open: an unknown key, or a value that was altered."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key_id(key: str) -> str:
    return hashlib.sha256(b"kaskade-webhook-key-id\x00" + key.encode()).hexdigest()[:8]


class SecretBox:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("the webhook secret key ring is empty")
        short = [i for i, k in enumerate(keys) if len(k) < MIN_KEY_CHARS]
        if short:
            raise ValueError(f"webhook secret keys must have at least {MIN_KEY_CHARS} characters "
                             f"(key #{short[0] + 1} of the ring is shorter)")
        self._boxes = {_key_id(k): AESGCM(hashlib.sha256(b"kaskade-webhook-secret\x00" + k.encode()).digest())
                       for k in keys}
        self.current = _key_id(keys[0])

    @classmethod
    def from_setting(cls, ring: str) -> SecretBox:
        return cls([k.strip() for k in ring.split(",") if k.strip()])

    @property
    def current_prefix(self) -> str:
        """What every row sealed under the current key starts with."""
        return f"{VERSION}.{self.current}."

    def seal(self, secret: str, endpoint_id: uuid.UUID) -> str:
        nonce = os.urandom(12)
        sealed = self._boxes[self.current].encrypt(nonce, secret.encode(), endpoint_id.bytes)
        return f"{self.current_prefix}{_b64(nonce)}.{_b64(sealed)}"

    def open(self, stored: str, endpoint_id: uuid.UUID) -> str:
        if not stored.startswith(f"{VERSION}."):
            return stored  # stored in clear before sealing existed; the reseal job seals it
        try:
            _, key_id, nonce, sealed = stored.split(".")
        except ValueError:
            raise SealError("a sealed webhook secret is malformed") from None
        box = self._boxes.get(key_id)
        if box is None:
            raise SealError(f"the webhook secret is sealed under key {key_id}, which is not in the key ring")
        try:
            return box.decrypt(_unb64(nonce), _unb64(sealed), endpoint_id.bytes).decode()
        except (InvalidTag, ValueError):
            raise SealError("the webhook secret does not open: altered, or sealed for another endpoint") from None

    def reseal(self, stored: str, endpoint_id: uuid.UUID) -> str | None:
        """The row's new value, or None when it is already sealed under the current key."""
        if stored.startswith(self.current_prefix):
            return None
        return self.seal(self.open(stored, endpoint_id), endpoint_id)
