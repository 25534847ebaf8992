"""share-ingest's rules: referral codes, what counts as a click, and the facts a command becomes.

Pure functions; the secret and the clock are passed in.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode, urlsplit, urlunsplit, parse_qsl

from kaskade_contracts.events import ConversionRecorded, LinkClicked, RecordConversion, RecordShare, ShareRecorded

CODE_LENGTH = 12  # 72 bits from an HMAC: unguessable without the key, URL-safe

# Link-preview fetchers and crawlers follow links without a person behind them.
_BOT_UA = re.compile(
    r"facebookexternalhit|facebot|slackbot|twitterbot|linkedinbot|whatsapp|telegrambot|discordbot|"
    r"skypeuripreview|embedly|pinterestbot|googlebot|bingbot|applebot|yandex|baiduspider|duckduckbot|"
    r"bot\b|crawler|spider|preview|curl/|wget/|python-requests|headless", re.IGNORECASE)


def referral_code(secret: bytes, tenant_id: str, share_id: uuid.UUID) -> str:
    """Deterministic per share, so replaying a share returns the same code without a lookup race."""
    digest = hmac.new(secret, f"{tenant_id}\x00{share_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:CODE_LENGTH]


def share_id_for_idempotency_key(tenant_id: str, key: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"kaskade:share:{tenant_id}:{key}")


def referral_url(base_url: str, code: str) -> str:
    return f"{base_url.rstrip('/')}/r/{code}"


@dataclass(frozen=True, slots=True)
class Profile:
    """What the facts may carry of a customer's profile: never the email, only its keyed hash."""
    email_hash: str | None = None
    segment: str | None = None


NO_PROFILE = Profile()


def profile(secret: bytes, email: str | None, segment: str | None) -> Profile:
    return Profile(email_hash(secret, email) if email else None, segment)


# A command's fields go into its fact as they are (`__dict__`: the commands are flat, and dumping
# them first cost 1.3 µs an item, 2-3% of a bulk request).
def share_recorded(cmd: RecordShare, code: str, base_url: str, sharer: Profile = NO_PROFILE) -> ShareRecorded:
    return ShareRecorded(**cmd.__dict__, referral_code=code, referral_url=referral_url(base_url, code),
                         sharer_email_hash=sharer.email_hash, sharer_segment=sharer.segment)


def conversion_recorded(cmd: RecordConversion, customer: Profile = NO_PROFILE) -> ConversionRecorded:
    return ConversionRecorded(**cmd.__dict__, customer_email_hash=customer.email_hash,
                              customer_segment=customer.segment)


def email_hash(secret: bytes, email: str) -> str:
    """Keyed, so the hash cannot be reversed by hashing guessed addresses without the key; addresses
    are compared case-insensitively, as mail providers do."""
    return hmac.new(secret, f"email\x00{email.strip().lower()}".encode(), hashlib.sha256).hexdigest()[:32]


def is_bot(user_agent: str) -> bool:
    return not user_agent or bool(_BOT_UA.search(user_agent))


def ip_hash(secret: bytes, ip: str) -> str:
    return hmac.new(secret, f"ip\x00{ip}".encode(), hashlib.sha256).hexdigest()[:32]


def landing_url_with_click(landing_url: str, click_id: uuid.UUID | None, code: str) -> str:
    """The landing URL with the click id (absent for bots, whose visits are not clicks) and the code."""
    parts = urlsplit(landing_url)
    extra = ([("kaskade_click", str(click_id))] if click_id else []) + [("ref", code)]
    query = parse_qsl(parts.query, keep_blank_values=True) + extra
    return urlunsplit(parts._replace(query=urlencode(query)))


def link_clicked(click_id: uuid.UUID, code: str, campaign_id: str, sharer_id: str, visitor_id: str,
                 ip_digest: str, user_agent: str, referer: str) -> LinkClicked:
    return LinkClicked(click_id=click_id, referral_code=code, campaign_id=campaign_id, sharer_id=sharer_id,
                       visitor_id=visitor_id[:64], ip_hash=ip_digest, user_agent=user_agent[:512],
                       referer=referer[:2048])


def is_repeat_click(last_click_at: datetime | None, now: datetime, window_s: int) -> bool:
    return last_click_at is not None and (now - last_click_at).total_seconds() < window_s
