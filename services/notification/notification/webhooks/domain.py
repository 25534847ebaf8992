"""Webhooks per the Standard Webhooks specification: event names, payloads, secrets, signatures,
and what each attempt's outcome means for the delivery and its endpoint. Pure.

Retry policy: timeouts, connection errors, 5xx and 429 are retried with exponential backoff and
jitter (a Retry-After header, in seconds or as an HTTP date, is honoured up to the backoff cap);
410 Gone disables the endpoint; any other answer (3xx, 4xx) fails the delivery at once, because
sending the same request again would get the same answer. Every failure counts towards the
endpoint's failing streak; an endpoint failing for longer than `disable_after` is disabled.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from notification.retry import backoff_s

SECRET_PREFIX = "whsec_"
EVENT_TYPES = {
    "RewardGranted": "reward.granted", "RewardConfirmed": "reward.confirmed", "RewardRevoked": "reward.revoked",
    "RewardDeclined": "reward.declined", "CampaignBudgetWarning": "campaign.budget_warning",
    "CampaignBudgetExhausted": "campaign.budget_exhausted",
}


@dataclass(frozen=True, slots=True)
class Policy:
    max_attempts: int
    backoff_initial_s: float
    backoff_max_s: float
    disable_after: timedelta


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str  # delivered | pending (retry) | failed
    retry_at: datetime | None = None
    disable: str | None = None  # why the endpoint is disabled now, if it is


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def webhook_id(delivery_id: uuid.UUID) -> str:
    return f"msg_{delivery_id.hex}"


def payload(event_type: str, occurred_at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    """The body: `type`, `timestamp` and `data`, as the specification suggests."""
    return {"type": EVENT_TYPES[event_type], "timestamp": occurred_at.isoformat().replace("+00:00", "Z"),
            "data": data}


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {"content-type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, msg_id, timestamp, body), "user-agent": "Kaskade-Webhooks/1"}


def retry_after_s(value: str | None, now: datetime) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, (parsedate_to_datetime(value) - now).total_seconds())
    except (TypeError, ValueError, IndexError):
        return None


def decide(*, status_code: int | None, retry_after: str | None, attempt: int, failing_since: datetime | None,
           now: datetime, policy: Policy, jitter: float) -> Outcome:
    """`attempt` counts this delivery's attempts in the current round, this one included;
    `status_code` is None for a timeout or a connection that failed; `jitter` is in [0, 1)."""
    if status_code is not None and 200 <= status_code < 300:
        return Outcome("delivered")
    if status_code == 410:
        return Outcome("failed", disable="the endpoint answered 410 Gone")
    streak_from = failing_since or now
    disable = (f"failing since {streak_from.isoformat()}" if now - streak_from >= policy.disable_after else None)
    retryable = status_code is None or status_code == 429 or status_code >= 500
    if not retryable or attempt >= policy.max_attempts or disable:
        return Outcome("failed", disable=disable)
    delay = backoff_s(attempt, policy.backoff_initial_s, policy.backoff_max_s, jitter)
    asked = retry_after_s(retry_after, now) if status_code in (429, 503) else None
    if asked is not None:
        delay = max(delay, min(asked, policy.backoff_max_s))
    return Outcome("pending", retry_at=now + timedelta(seconds=delay))

