"""The email planner: opt-outs, missing contacts, the per-recipient rate limit and digests."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from notification.mail.plan import Contact, Job, Limits, message_id_for, plan

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
LIMITS = Limits(burst=3, window=timedelta(hours=1), contact_wait=timedelta(minutes=10))
ANNA = ("acme", "anna")
OK = Contact("anna@example.com", unsubscribed=False)


def jobs(n: int, recipient: str = "anna", age: timedelta = timedelta(seconds=1)) -> list[Job]:
    return [Job(uuid.uuid4(), "acme", recipient, NOW - age + timedelta(milliseconds=i)) for i in range(n)]


def test_within_the_budget_each_notification_is_its_own_email_keyed_by_the_notification() -> None:
    due = jobs(2)
    p = plan(due, {ANNA: OK}, {ANNA: [NOW - timedelta(minutes=5)]}, NOW, LIMITS)

    assert [m.notification_ids for m in p.messages] == [(due[0].notification_id,), (due[1].notification_id,)]
    assert [m.message_id for m in p.messages] == [j.notification_id for j in due]
    assert {m.kind for m in p.messages} == {"single"}


def test_a_burst_beyond_the_budget_is_folded_into_one_digest() -> None:
    due = jobs(5)
    p = plan(due, {ANNA: OK}, {ANNA: [NOW - timedelta(minutes=5)]}, NOW, LIMITS)

    [digest] = p.messages
    assert digest.kind == "digest"
    assert digest.notification_ids == tuple(j.notification_id for j in due)
    assert digest.message_id == message_id_for(list(reversed(digest.notification_ids)))


def test_with_no_budget_left_everything_waits_until_the_oldest_email_ages_out() -> None:
    sent = [NOW - timedelta(minutes=50), NOW - timedelta(minutes=20), NOW - timedelta(minutes=10)]
    due = jobs(2)
    p = plan(due, {ANNA: OK}, {ANNA: sent}, NOW, LIMITS)

    assert p.messages == []
    assert p.deferred == [(j.notification_id, NOW + timedelta(minutes=10)) for j in due]


def test_emails_older_than_the_window_do_not_count() -> None:
    old = [NOW - timedelta(hours=2)] * 5
    assert len(plan(jobs(1), {ANNA: OK}, {ANNA: old}, NOW, LIMITS).messages) == 1


def test_an_unsubscribed_customer_gets_no_email_whatever_their_consent() -> None:
    due = jobs(1)
    p = plan(due, {ANNA: Contact("anna@example.com", unsubscribed=True)}, {}, NOW, LIMITS)
    assert (p.messages, p.suppressed) == ([], [(due[0].notification_id, "unsubscribed")])


def test_a_contact_without_an_address_is_suppressed() -> None:
    due = jobs(1)
    assert plan(due, {ANNA: Contact(None, False)}, {}, NOW, LIMITS).suppressed == [(due[0].notification_id,
                                                                                    "no_address")]


def test_a_missing_contact_is_waited_for_then_given_up() -> None:
    fresh, stale = jobs(1), jobs(1, age=timedelta(minutes=11))
    p = plan(fresh + stale, {}, {}, NOW, LIMITS)

    assert p.suppressed == [(stale[0].notification_id, "no_contact")]
    [(nid, until)] = p.deferred
    assert nid == fresh[0].notification_id and NOW < until <= fresh[0].created_at + LIMITS.contact_wait


def test_recipients_are_limited_separately() -> None:
    bob = ("acme", "bob")
    p = plan(jobs(5) + jobs(1, "bob"), {ANNA: OK, bob: Contact("bob@example.com", False)}, {}, NOW, LIMITS)
    assert sorted((m.recipient_id, m.kind) for m in p.messages) == [("anna", "digest"), ("bob", "single")]
