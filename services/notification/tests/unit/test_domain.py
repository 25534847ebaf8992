"""Which notification a granted reward calls for, and why a replay never sends it twice."""
from __future__ import annotations

import uuid

from kaskade_contracts.events import RewardConfirmed, RewardGranted, RewardKind, RewardRevoked, RewardRole
from kaskade_contracts.ids import uuid7, uuid7_time_ms
from notification.domain import for_reward

EVENT = uuid.UUID("77777777-7777-4777-8777-777777777777")
REWARD = uuid.UUID("44444444-4444-4444-8444-444444444444")


def granted(*, recipient: str = "alice", role: RewardRole = RewardRole.referrer, amount: int = 500,
            currency: str = "EUR") -> RewardGranted:
    return RewardGranted(reward_id=REWARD, idempotency_key="k" * 64, campaign_id="spring",
                         conversion_id=uuid.UUID("11111111-1111-4111-8111-111111111111"), rule_id="referrer-fixed",
                         recipient_id=recipient, role=role, kind=RewardKind.account_credit, amount_minor=amount,
                         currency=currency, generation=1)


def test_referrer_hears_of_the_reward_by_email() -> None:
    [n] = for_reward("acme", EVENT, granted())

    assert n.template == "reward_granted_referrer"
    assert (n.tenant_id, n.recipient_id, n.channel) == ("acme", "alice", "email")
    assert (n.source_event_id, n.reward_id) == (EVENT, REWARD)


def test_referee_gets_the_welcome_template() -> None:
    [n] = for_reward("acme", EVENT, granted(recipient="bob", role=RewardRole.referee))
    assert n.template == "welcome_discount_referee"


def test_context_carries_what_the_email_shows() -> None:
    [n] = for_reward("acme", EVENT, granted(amount=1250, currency="USD"))

    assert n.context["amount_minor"] == 1250
    assert n.context["currency"] == "USD"
    assert n.context["campaign_id"] == "spring"
    assert n.context["kind"] == "account_credit"
    assert n.context["reward_id"] == str(REWARD)


def test_replaying_the_event_yields_the_same_notification_id() -> None:
    [first] = for_reward("acme", EVENT, granted())
    [replay] = for_reward("acme", uuid.UUID(str(EVENT)), granted())
    assert replay.notification_id == first.notification_id
    assert replay == first


def test_different_recipients_events_or_tenants_get_different_ids() -> None:
    ids = {
        for_reward("acme", EVENT, granted())[0].notification_id,
        for_reward("acme", EVENT, granted(recipient="bob"))[0].notification_id,
        for_reward("acme", uuid.UUID(int=8), granted())[0].notification_id,
        for_reward("globex", EVENT, granted())[0].notification_id,
    }
    assert len(ids) == 4


def test_a_campaign_without_email_records_a_feed_entry_only() -> None:
    [n] = for_reward("acme", EVENT, granted(), email=False)
    assert (n.channel, n.emailed) == ("feed", False)


def test_sharers_and_uplines_hear_of_their_reward_like_referrers() -> None:
    for role in (RewardRole.sharer, RewardRole.upline):
        assert for_reward("acme", EVENT, granted(role=role))[0].template == "reward_granted_referrer"


def test_confirmation_and_revocation_have_their_own_templates_and_context() -> None:
    common = dict(reward_id=REWARD, idempotency_key="k", campaign_id="spring", rule_id="r", recipient_id="alice",
                  role=RewardRole.referrer, currency="EUR")
    [confirmed] = for_reward("acme", EVENT, RewardConfirmed(**common, amount_minor=500, kind=RewardKind.discount_code,
                                                            discount_code="SAVE-123"))
    [revoked] = for_reward("acme", EVENT, RewardRevoked(**common, amount_minor=200, remaining_minor=300,
                                                        reason="refund", compensated=False))

    assert (confirmed.template, confirmed.context["discount_code"]) == ("reward_confirmed", "SAVE-123")
    assert revoked.template == "reward_revoked"
    assert (revoked.context["amount_minor"], revoked.context["remaining_minor"], revoked.context["reason"]) == (
        200, 300, "refund")


def test_a_notification_of_a_time_ordered_event_sorts_with_it_and_one_of_an_older_event_keeps_its_id() -> None:
    """Replays derive the same id either way; ids of newer events land at the newest end of the index."""
    older_event, newer_event = uuid7(), uuid7()
    while uuid7_time_ms(newer_event) == uuid7_time_ms(older_event):
        newer_event = uuid7()
    [older], [newer] = for_reward("acme", older_event, granted()), for_reward("acme", newer_event, granted())

    assert older.notification_id.version == 7 and uuid7_time_ms(older.notification_id) == uuid7_time_ms(older_event)
    assert older.notification_id < newer.notification_id
    assert for_reward("acme", uuid.UUID(str(newer_event)), granted())[0].notification_id == newer.notification_id
    # Events sent before event ids were time-ordered keep the id their notification was stored under.
    [legacy] = for_reward("acme", EVENT, granted())
    assert legacy.notification_id == uuid.uuid5(uuid.UUID("0b6f6d1e-7c55-4f0b-8f7e-3c9d8a2e4b10"),
                                                f"acme\x00{EVENT}\x00email\x00alice")
