"""Which emails go out for the due email jobs: the per-recipient rate limit, digests, opt-outs.
Pure; the clock is passed in.

Policy:
- Reward notices are transactional: they are sent without marketing consent, but never to a
  customer who unsubscribed (one click in any of our emails), and never without an address.
- A recipient gets at most `burst` emails per `window`. When more is due than the budget left, all
  of it goes out as one digest; with no budget left it waits until the oldest email of the
  window ages out, and whatever gathered meanwhile becomes one digest then.
- A contact may arrive after the reward (different topics): a job without a contact waits up to
  `contact_wait` from its creation (the contact's arrival wakes it), then is suppressed.
"""
from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

DIGEST_NAMESPACE = uuid.UUID("5b0c7f8e-2a1d-4e36-9d1a-7f3e5c2b9a40")
Recipient = tuple[str, str]  # (tenant_id, customer_id)


@dataclass(frozen=True, slots=True)
class Limits:
    burst: int
    window: timedelta
    contact_wait: timedelta


@dataclass(frozen=True, slots=True)
class Job:
    notification_id: uuid.UUID
    tenant_id: str
    recipient_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Contact:
    email: str | None
    unsubscribed: bool


@dataclass(frozen=True, slots=True)
class Message:
    message_id: uuid.UUID
    tenant_id: str
    recipient_id: str
    notification_ids: tuple[uuid.UUID, ...]

    @property
    def kind(self) -> str:
        return "digest" if len(self.notification_ids) > 1 else "single"


@dataclass(slots=True)
class Plan:
    messages: list[Message] = field(default_factory=list)
    suppressed: list[tuple[uuid.UUID, str]] = field(default_factory=list)  # (notification id, reason)
    deferred: list[tuple[uuid.UUID, datetime]] = field(default_factory=list)  # (notification id, until)


def message_id_for(notification_ids: Sequence[uuid.UUID]) -> uuid.UUID:
    """A single email keeps its notification's id (so its Message-ID is stable across resends); a
    digest's id is derived from what it contains."""
    if len(notification_ids) == 1:
        return notification_ids[0]
    return uuid.uuid5(DIGEST_NAMESPACE, ",".join(sorted(str(n) for n in notification_ids)))


def suppression(contact: Contact | None, job: Job, now: datetime, limits: Limits) -> str | None:
    """Why the job gets no email, or None. 'wait' means: not yet, the contact may still come."""
    if contact is None:
        return "no_contact" if now - job.created_at >= limits.contact_wait else "wait"
    if contact.unsubscribed:
        return "unsubscribed"
    if not contact.email:
        return "no_address"
    return None


def plan(jobs: Iterable[Job], contacts: dict[Recipient, Contact], recent: dict[Recipient, list[datetime]],
         now: datetime, limits: Limits) -> Plan:
    """`recent` holds when each recipient's emails of the current window were created."""
    out = Plan()
    by_recipient: dict[Recipient, list[Job]] = defaultdict(list)
    for job in jobs:
        why = suppression(contacts.get((job.tenant_id, job.recipient_id)), job, now, limits)
        if why == "wait":  # the contact's arrival makes the job due at once (mail/repo.wake_jobs)
            out.deferred.append((job.notification_id, job.created_at + limits.contact_wait))
        elif why:
            out.suppressed.append((job.notification_id, why))
        else:
            by_recipient[(job.tenant_id, job.recipient_id)].append(job)
    for (tenant, recipient), due in by_recipient.items():
        sent = sorted(t for t in recent.get((tenant, recipient), []) if t > now - limits.window)
        budget = limits.burst - len(sent)
        if budget <= 0:
            until = sent[len(sent) - limits.burst] + limits.window
            out.deferred.extend((j.notification_id, until) for j in due)
        elif len(due) <= budget:
            out.messages.extend(Message(j.notification_id, tenant, recipient, (j.notification_id,)) for j in due)
        else:
            ids = tuple(j.notification_id for j in sorted(due, key=lambda j: j.created_at))
            out.messages.append(Message(message_id_for(ids), tenant, recipient, ids))
    return out
