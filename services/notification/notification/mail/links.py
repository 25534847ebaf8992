"""Unsubscribe links. The token names the email (message id), not the customer, so no personal
data sits in the URL; an HMAC makes it unforgeable. Pure."""
from __future__ import annotations

import base64
import hashlib
import hmac
import uuid


def token_for(secret: bytes, message_id: uuid.UUID) -> str:
    return f"{message_id.hex}.{_mac(secret, message_id)}"


def message_of(secret: bytes, token: str) -> uuid.UUID | None:
    """The message a well-formed, authentic token names, else None."""
    raw_id, _, mac = token.partition(".")
    try:
        message_id = uuid.UUID(hex=raw_id)
    except ValueError:
        return None
    return message_id if len(raw_id) == 32 and hmac.compare_digest(mac, _mac(secret, message_id)) else None


def unsubscribe_url(base_url: str, secret: bytes, message_id: uuid.UUID) -> str:
    return f"{base_url.rstrip('/')}/v1/unsubscribe/{token_for(secret, message_id)}"


def _mac(secret: bytes, message_id: uuid.UUID) -> str:
    digest = hmac.new(secret, b"unsubscribe\x00" + message_id.bytes, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()
