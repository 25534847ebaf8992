"""The event contracts: what goes on the wire, what a consumer gets back, and which bytes it refuses."""
from __future__ import annotations

import json
import os
import pickle
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from kaskade_contracts import envelope as envelope_module
from kaskade_contracts import events, schemas, topics
from kaskade_contracts.envelope import (Contract, EnvelopeError, Payload, decode_envelope, encode_envelope,
                                        new_envelope, registered)
from kaskade_contracts.ids import derived_uuid, uuid7, uuid7_time_ms

TENANT = "acme-shop"
AT = datetime(2024, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))
CONVERSION = uuid.UUID("11111111-1111-4111-8111-111111111111")
SHARE = uuid.UUID("22222222-2222-4222-8222-222222222222")
CLICK = uuid.UUID("33333333-3333-4333-8333-333333333333")
REWARD = uuid.UUID("44444444-4444-4444-8444-444444444444")

SAMPLES: dict[str, Payload] = {
    "RecordShare": events.RecordShare(share_id=SHARE, sharer_id="cust-1", channel=events.Channel.whatsapp,
                                      message_variant="summer-a", sentiment=2),
    "RecordConversion": events.RecordConversion(conversion_id=CONVERSION, customer_id="cust-2",
                                                kind=events.ConversionKind.purchase, amount_minor=4999,
                                                currency="EUR", referral_code="q8ZbN2xk4T"),
    "CampaignDefined": events.CampaignDefined(
        campaign_id="spring", version=3, status=events.CampaignStatus.paused,
        terms=events.CampaignTerms(name="Spring", landing_url="https://shop.example.com/spring",
                                   attribution_window_days=14, attribution_model=events.AttributionModel.first_click,
                                   referrer_reward=events.RewardRule(amount_minor=300, percent_bps=250),
                                   referee_reward=events.RewardRule(kind=events.RewardKind.discount_code,
                                                                    amount_minor=1000),
                                   currency="CHF", budget_minor=50_000, notify_by_email=False,
                                   default_locale=events.Locale.de)),
    "CustomerProfileUpdated": events.CustomerProfileUpdated(customer_id="cust-2", email="ben@example.org",
                                                            locale=events.Locale.de, marketing_consent=True,
                                                            segment="students"),
    "CustomerErased": events.CustomerErased(customer_id="cust-2", replacement_id="erased-6f1c1f0e"),
    "RecordClick": events.RecordClick(click_id=CLICK, referral_code="q8ZbN2xk4T", visitor_id="v-1",
                                      user_agent="Mozilla/5.0", ip="203.0.113.7"),
    "RecordRefund": events.RecordRefund(refund_id=uuid.UUID("66666666-6666-4666-8666-666666666666"),
                                        conversion_id=CONVERSION, kind=events.RefundKind.cancellation,
                                        amount_minor=1000),
    "RefundRecorded": events.RefundRecorded(refund_id=uuid.UUID("66666666-6666-4666-8666-666666666666"),
                                            conversion_id=CONVERSION, amount_minor=1000, campaign_id="spring",
                                            customer_id="cust-2", currency="EUR", refunded_total_minor=1000,
                                            full=False),
    "ShareRecorded": events.ShareRecorded(share_id=SHARE, campaign_id="spring", sharer_id="cust-1",
                                          channel=events.Channel.email, referral_code="q8ZbN2xk4T",
                                          referral_url="https://go.example.com/r/q8ZbN2xk4T"),
    "LinkClicked": events.LinkClicked(click_id=CLICK, referral_code="q8ZbN2xk4T", campaign_id="spring",
                                      sharer_id="cust-1", visitor_id="v-1", ip_hash="ab" * 16,
                                      user_agent="Mozilla/5.0", referer="https://t.co/"),
    "ConversionRecorded": events.ConversionRecorded(conversion_id=CONVERSION, customer_id="cust-2",
                                                    kind=events.ConversionKind.signup, click_id=CLICK),
    "ConversionAttributed": events.ConversionAttributed(
        conversion_id=CONVERSION, campaign_id="spring", kind=events.ConversionKind.purchase, amount_minor=4999,
        currency="USD", referee_id="cust-3", referrer_id="cust-2", root_seeder_id="cust-1", generation=2,
        parent_conversion_id=uuid.UUID("55555555-5555-4555-8555-555555555555"),
        path=events.AttributionPath.click),
    "ConversionUnattributed": events.ConversionUnattributed(conversion_id=CONVERSION, campaign_id="spring",
                                                            customer_id="cust-2", reason="no_referral_link"),
    "AttributionRejected": events.AttributionRejected(conversion_id=CONVERSION, campaign_id="spring",
                                                      referee_id="cust-1", referrer_id="cust-1",
                                                      reason=events.RejectionReason.self_referral),
    "RewardGranted": events.RewardGranted(reward_id=REWARD, idempotency_key="k" * 64, campaign_id="spring",
                                          conversion_id=CONVERSION, rule_id="referrer-fixed", recipient_id="cust-1",
                                          role=events.RewardRole.referrer, kind=events.RewardKind.account_credit,
                                          amount_minor=500, currency="EUR", generation=1),
    "RewardDeclined": events.RewardDeclined(reward_id=REWARD, idempotency_key="k" * 64, campaign_id="spring",
                                            conversion_id=CONVERSION, rule_id="referrer-fixed",
                                            recipient_id="cust-1", role=events.RewardRole.referrer, amount_minor=500,
                                            currency="EUR", reason="budget_exhausted"),
    "ApiKeyChanged": events.ApiKeyChanged(key_id="0123456789abcdef", secret_hash="ab" * 32,
                                          expires_at=AT + timedelta(days=1)),
    "AttributionReversed": events.AttributionReversed(
        conversion_id=CONVERSION, refund_id=uuid.UUID("66666666-6666-4666-8666-666666666666"), campaign_id="spring",
        kind=events.RefundKind.refund, referee_id="cust-3", referrer_id="cust-2", amount_minor=1000,
        refunded_total_minor=1000, conversion_amount_minor=4999, currency="EUR", full=False),
    "ReferralReparented": events.ReferralReparented(
        campaign_id="spring", referee_id="cust-3", referrer_id="cust-2", conversion_id=CONVERSION,
        root_seeder_id="cust-0", generation=3, parent_conversion_id=uuid.UUID("77777777-7777-4777-8777-777777777777"),
        upline=["cust-1", "cust-0"]),
    "RewardConfirmed": events.RewardConfirmed(reward_id=REWARD, idempotency_key="k" * 64, campaign_id="spring",
                                              conversion_id=CONVERSION, rule_id="referee", recipient_id="cust-3",
                                              role=events.RewardRole.referee, kind=events.RewardKind.discount_code,
                                              amount_minor=1000, currency="EUR", discount_code="KSK-7HQ2-M9XA"),
    "RewardRevoked": events.RewardRevoked(reward_id=REWARD, idempotency_key="k" * 64, campaign_id="spring",
                                          conversion_id=CONVERSION, rule_id="referrer", recipient_id="cust-1",
                                          role=events.RewardRole.referrer, amount_minor=200, remaining_minor=300,
                                          currency="EUR", reason="refund", compensated=True),
    "CampaignBudgetWarning": events.CampaignBudgetWarning(campaign_id="spring", budget_minor=50_000,
                                                          committed_minor=40_100, currency="CHF",
                                                          threshold_percent=80),
    "WebhookEndpointDisabled": events.WebhookEndpointDisabled(
        endpoint_id=uuid.UUID("77777777-7777-4777-8777-777777777777"), url="https://shop.example.com/hooks",
        reason="the endpoint answered 410 Gone"),
    "CampaignBudgetExhausted": events.CampaignBudgetExhausted(campaign_id="spring", budget_minor=50_000,
                                                              committed_minor=49_900, currency="CHF"),
}


def wire(payload: Payload | None = None, **overrides: Any) -> dict[str, Any]:
    """A valid envelope as the JSON object a producer would send, with top-level fields overridden."""
    env = new_envelope(payload or SAMPLES["ConversionRecorded"], tenant_id=TENANT, occurred_at=AT)
    data = orjson.loads(encode_envelope(env))
    data.update(overrides)
    return data


def reason_of(raw: bytes | None) -> str:
    with pytest.raises(EnvelopeError) as caught:
        decode_envelope(raw)
    return caught.value.reason


# --- round trip -------------------------------------------------------------------------------

@pytest.mark.parametrize("key", sorted(registered()), ids=lambda k: f"{k[0]}.v{k[1]}")
def test_every_registered_contract_survives_the_wire(key: tuple[str, int]) -> None:
    payload = SAMPLES[key[0]]  # a new contract needs a sample here
    original = new_envelope(payload, tenant_id=TENANT, occurred_at=AT)

    decoded = decode_envelope(encode_envelope(original))

    assert decoded == original
    assert type(decoded.payload) is type(payload)
    assert decoded.payload == payload


def test_wire_format_names_type_version_and_keeps_the_offset() -> None:
    raw = encode_envelope(new_envelope(SAMPLES["RewardGranted"], tenant_id=TENANT, occurred_at=AT))
    data = json.loads(raw)

    assert data["event_type"] == "RewardGranted"
    assert data["schema_version"] == 1
    assert data["tenant_id"] == TENANT
    assert data["occurred_at"] == "2024-05-01T12:30:00+02:00"
    assert data["payload"]["amount_minor"] == 500  # minor units as an integer, never a float
    assert data["payload"]["role"] == "referrer"


# --- what a consumer refuses, and under which reason ----------------------------------------

@pytest.mark.parametrize("raw", [b"", None], ids=["empty-bytes", "tombstone"])
def test_empty_message_is_refused_as_empty(raw: bytes | None) -> None:
    assert reason_of(raw) == "empty"


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe\x00", b'{"event_type": "LinkClicked"'],
                         ids=["garbage", "binary", "truncated"])
def test_non_json_is_refused_as_undecodable(raw: bytes) -> None:
    assert reason_of(raw) == "undecodable"


@pytest.mark.parametrize("raw", [b"[]", orjson.dumps([wire()]), b'"RewardGranted"', b"42"],
                         ids=["empty-array", "array-of-envelope", "string", "number"])
def test_json_that_is_not_an_object_is_refused_as_undecodable(raw: bytes) -> None:
    assert reason_of(raw) == "undecodable"


@pytest.mark.parametrize("overrides", [{"event_type": "OrderShipped"}, {"event_type": "rewardgranted"},
                                       {"event_type": None}], ids=["unknown", "wrong-case", "null"])
def test_unknown_event_type_is_refused(overrides: dict[str, Any]) -> None:
    assert reason_of(orjson.dumps(wire(**overrides))) == "unknown_event_type"


def test_missing_event_type_is_refused_as_unknown() -> None:
    data = wire()
    del data["event_type"]
    assert reason_of(orjson.dumps(data)) == "unknown_event_type"


@pytest.mark.parametrize("version", [2, 0, "1"], ids=["future", "zero", "string"])
def test_unknown_schema_version_is_refused_and_says_which(version: object) -> None:
    with pytest.raises(EnvelopeError) as caught:
        decode_envelope(orjson.dumps(wire(schema_version=version)))
    assert caught.value.reason == "unknown_event_type"
    assert f"schema_version={version!r}" in caught.value.detail


@pytest.mark.parametrize("overrides", [{"event_type": ["RewardGranted"]}, {"schema_version": {"v": 1}}],
                         ids=["event_type-list", "schema_version-object"])
def test_unhashable_type_or_version_is_dead_lettered_not_crashing(overrides: dict[str, Any]) -> None:
    assert reason_of(orjson.dumps(wire(**overrides))) == "unknown_event_type"


def _without(field: str) -> dict[str, Any]:
    data = wire()
    del data["payload"][field]
    return data


def _with_payload(**fields: Any) -> dict[str, Any]:
    data = wire()
    data["payload"].update(fields)
    return data


@pytest.mark.parametrize(("data", "field"), [
    (_without("conversion_id"), "conversion_id"),
    (_with_payload(amount_minor=-1), "amount_minor"),
    (_with_payload(amount_minor=49.99), "amount_minor"),
    (_with_payload(currency="eur"), "currency"),
    (_with_payload(referral_code="x y"), "referral_code"),
    (_with_payload(surprise="extra field"), "surprise"),
    (wire(tenant_id="Acme Shop"), "tenant_id"),
    (wire(tenant_id="-acme"), "tenant_id"),
    (wire(occurred_at="2024-05-01T12:30:00"), "occurred_at"),
    (wire(event_id="not-a-uuid"), "event_id"),
], ids=["missing-field", "negative-amount", "float-amount", "lower-case-currency", "code-with-space",
        "unknown-payload-field", "tenant-with-space-and-capitals", "tenant-leading-dash", "naive-datetime",
        "bad-event-id"])
def test_schema_invalid_event_is_refused_naming_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(EnvelopeError) as caught:
        decode_envelope(orjson.dumps(data))
    assert caught.value.reason == "schema_invalid"
    assert field in caught.value.detail  # the dead-letter header tells an operator what is wrong


def _nul_in(event_type: str, path: tuple[Any, ...]) -> dict[str, Any]:
    """A valid envelope of `event_type` whose string at `path` in the payload carries a NUL."""
    data = wire(SAMPLES[event_type])
    *parents, last = path
    node = data["payload"]
    for key in parents:
        node = node[key]
    node[last] += "\x00"
    return data


@pytest.mark.parametrize(("event_type", "path"), [
    ("LinkClicked", ("user_agent",)),
    ("CampaignDefined", ("terms", "name")),
], ids=["field", "nested-model"])
def test_nul_in_any_string_is_refused_naming_the_field(event_type: str, path: tuple[Any, ...]) -> None:
    """Postgres text cannot hold NUL: a consumer must refuse it before any of it is stored."""
    with pytest.raises(EnvelopeError) as caught:
        decode_envelope(orjson.dumps(_nul_in(event_type, path)))
    assert caught.value.reason == "schema_invalid"
    field = ".".join(str(p) for p in ("payload", *path))
    assert f"{field}: must not contain NUL characters" in caught.value.detail


def test_nul_is_refused_when_an_event_is_built_too() -> None:
    with pytest.raises(ValueError, match="must not contain NUL characters"):
        events.ConversionRecorded(conversion_id=CONVERSION, customer_id="cust-2", order_id="o\x001",
                                  kind=events.ConversionKind.purchase)
    # A string's own checks still speak first: a wrong type is a wrong type, not a NUL.
    with pytest.raises(ValueError, match="valid string"):
        events.ConversionRecorded(conversion_id=CONVERSION, customer_id=42, order_id="o-1",
                                  kind=events.ConversionKind.purchase)


class _Notes(Contract):
    """A contract with strings inside containers, as a future event may have."""
    tags: list[str] = []
    labels: dict[str, str] = {}
    note: str | None = None


@pytest.mark.parametrize(("fields", "where"), [
    ({"tags": ["ok", "n\x00"]}, "tags.1"), ({"labels": {"k": "v\x00"}}, "labels.k"),
    ({"labels": {"k\x00": "v"}}, "labels.k\x00.[key]"), ({"note": "\x00"}, "note"),
], ids=["list-item", "dict-value", "dict-key", "optional"])
def test_nul_is_refused_inside_containers(fields: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _Notes(**fields)
    (error,) = caught.value.errors()
    assert (".".join(str(p) for p in error["loc"]), error["msg"]) == (where, "must not contain NUL characters")
    assert _Notes(tags=["ok"], labels={"k": "v"}, note="fine").tags == ["ok"]


def test_payload_of_another_type_is_refused() -> None:
    data = wire(SAMPLES["ConversionRecorded"], event_type="RewardGranted")
    assert reason_of(orjson.dumps(data)) == "schema_invalid"


def _verdict(decode: Any, raw: bytes) -> Any:
    try:
        return decode(raw)
    except EnvelopeError as exc:
        return exc.reason, exc.detail


_OWN = encode_envelope(new_envelope(SAMPLES["RewardGranted"], tenant_id=TENANT, occurred_at=AT))


@pytest.mark.parametrize("raw", [
    _OWN,
    # JSON takes the last of two equal keys: the name at the start is not the event's.
    _OWN[:-1] + b',"event_type":"ConversionRecorded"}',
    _OWN[:-1] + b',"schema_version":2}',
    _OWN.replace(b'"payload":{', b'"payload":{"event_type":"RewardGranted","schema_version":1,', 1),
    _OWN[:-9],
    _OWN.replace(b'"amount_minor":500', b'"amount_minor":-500'),
    orjson.dumps(dict(sorted(orjson.loads(_OWN).items()))),  # another producer's key order
], ids=["own", "later-event-type", "later-version", "name-inside-payload", "truncated", "invalid-field",
        "other-key-order"])
def test_reading_an_event_by_the_name_at_its_start_agrees_with_reading_it_in_full(raw: bytes) -> None:
    """The fast path (validating straight from JSON into the contract named at the start) must
    give exactly what parsing first gives: the same event, or the same refusal and reason."""
    assert _verdict(decode_envelope, raw) == _verdict(envelope_module._decode_generally, raw)


# --- causation ------------------------------------------------------------------------------

def test_caused_event_inherits_correlation_and_points_at_its_cause() -> None:
    cause = new_envelope(SAMPLES["ConversionRecorded"], tenant_id=TENANT, occurred_at=AT)

    effect = new_envelope(SAMPLES["ConversionAttributed"], tenant_id=TENANT, causation=cause)

    assert effect.correlation_id == cause.correlation_id
    assert effect.causation_id == cause.event_id
    assert effect.event_id not in (cause.event_id, cause.correlation_id)


def test_cause_wins_over_an_explicit_correlation_id() -> None:
    cause = new_envelope(SAMPLES["ConversionRecorded"], tenant_id=TENANT)
    effect = new_envelope(SAMPLES["ConversionAttributed"], tenant_id=TENANT, causation=cause,
                          correlation_id=uuid.uuid4())
    assert effect.correlation_id == cause.correlation_id


def test_uncaused_event_starts_a_fresh_correlation() -> None:
    first = new_envelope(SAMPLES["RecordConversion"], tenant_id=TENANT)
    second = new_envelope(SAMPLES["RecordConversion"], tenant_id=TENANT)

    assert first.causation_id is None
    assert first.correlation_id != second.correlation_id
    assert first.event_id != second.event_id


def test_explicit_correlation_id_is_kept() -> None:
    correlation = uuid.uuid4()
    env = new_envelope(SAMPLES["RecordShare"], tenant_id=TENANT, correlation_id=correlation)
    assert env.correlation_id == correlation


def test_envelope_without_time_is_stamped_now_in_utc() -> None:
    before = datetime.now(timezone.utc)
    env = new_envelope(SAMPLES["RecordShare"], tenant_id=TENANT)
    assert before <= env.occurred_at <= datetime.now(timezone.utc)
    assert env.occurred_at.utcoffset() == timedelta(0)


# --- partition keys -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["RecordConversion", "ConversionRecorded"])
def test_conversions_are_keyed_by_tenant_and_customer(name: str) -> None:
    payload = SAMPLES[name]
    other_campaign = payload.model_copy(update={"campaign_id": "autumn", "conversion_id": uuid.uuid4()})

    assert payload.partition_key(TENANT) == f"{TENANT}:{payload.customer_id}"  # type: ignore[attr-defined]
    # One customer's conversions stay in order, whatever the campaign.
    assert other_campaign.partition_key(TENANT) == payload.partition_key(TENANT)
    assert payload.partition_key("other-shop") != payload.partition_key(TENANT)


def test_attributions_are_keyed_by_tenant_and_campaign() -> None:
    fact = SAMPLES["ConversionAttributed"]
    other_referee = fact.model_copy(update={"referee_id": "cust-9", "referrer_id": "cust-8"})

    assert fact.partition_key(TENANT) == f"{TENANT}:spring"
    # Every reward of a campaign draws on one budget: one partition, one writer.
    assert other_referee.partition_key(TENANT) == fact.partition_key(TENANT)


def test_shares_are_keyed_by_sharer_and_clicks_by_code() -> None:
    assert SAMPLES["ShareRecorded"].partition_key(TENANT) == f"{TENANT}:cust-1"
    assert SAMPLES["LinkClicked"].partition_key(TENANT) == f"{TENANT}:q8ZbN2xk4T"


# --- committed JSON Schemas -----------------------------------------------------------------

def test_committed_schemas_match_the_code() -> None:
    assert schemas.main(["--check"]) == 0


def test_one_schema_per_public_event_and_intake_command_with_its_topic() -> None:
    rendered = schemas.render()
    models = (*events.PUBLIC_EVENTS, *events.INTAKE_COMMANDS)

    assert set(rendered) == {f"{m.event_type}.v{m.schema_version}.json" for m in models} | {"asyncapi.json"}
    assert len(rendered) - 1 == len(registered())  # no registered contract goes without a schema
    topic_names = {t.name for t in topics.ALL}
    for model in models:
        schema = json.loads(rendered[f"{model.event_type}.v{model.schema_version}.json"])
        assert schema["x-kaskade-topic"] == model.topic
        assert model.topic in topic_names
        assert schema["x-kaskade-event-type"] == model.event_type
        assert schema["title"] == f"{model.event_type} v{model.schema_version}"


def test_public_reward_contract_lives_on_the_versioned_rewards_topic() -> None:
    schema = json.loads(schemas.render()["RewardGranted.v1.json"])
    assert schema["x-kaskade-topic"] == "kaskade.rewards.v1"
    assert {"reward_id", "idempotency_key", "amount_minor", "currency"} <= set(
        schema["$defs"]["RewardGranted"]["required"])


def test_check_fails_on_a_stale_or_orphan_schema(tmp_path, monkeypatch) -> None:
    for name, text in schemas.render().items():
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(schemas, "SCHEMA_DIR", tmp_path)
    assert schemas.main(["--check"]) == 0

    (tmp_path / "OrderShipped.v1.json").write_text("{}\n")
    assert schemas.main(["--check"]) == 1

    (tmp_path / "OrderShipped.v1.json").unlink()
    (tmp_path / "RewardGranted.v1.json").write_text("{}\n")
    assert schemas.main(["--check"]) == 1


def test_the_asyncapi_document_shows_every_public_event_on_its_topic() -> None:
    doc = schemas.asyncapi()

    rewards = doc["channels"]["kaskade_rewards_v1"]
    assert rewards["address"] == topics.REWARDS.name
    assert sorted(rewards["messages"]) == sorted(f"{m.event_type}.v1" for m in events.PUBLIC_EVENTS
                                                 if m.topic == topics.REWARDS.name)
    assert {"RewardGranted.v1", "RewardConfirmed.v1", "RewardRevoked.v1", "RewardDeclined.v1"} <= set(rewards["messages"])
    granted = doc["components"]["messages"]["RewardGranted.v1"]
    assert granted["payload"]["properties"]["payload"]["$ref"].endswith("RewardGranted")
    assert "kaskade-event-type" in granted["headers"]["properties"]
    listed = {k for ch in doc["channels"].values() for k in ch["messages"]}
    assert listed == set(doc["components"]["messages"])  # every message sits on a channel


def test_minted_ids_are_version_7_ordered_by_the_millisecond_they_were_minted_in() -> None:
    """Event ids grow with time, so each consumer's claims land at the newest end of its index."""
    before = time.time_ns() // 1_000_000
    first = new_envelope(SAMPLES["ShareRecorded"], tenant_id="acme").event_id
    time.sleep(0.002)
    later = [uuid7() for _ in range(1000)]
    after = time.time_ns() // 1_000_000

    assert {(i.version, i.variant) for i in [first, *later]} == {(7, uuid.RFC_4122)}
    assert before <= uuid7_time_ms(first) < min(uuid7_time_ms(i) for i in later) <= after
    assert first < min(later) and len(set(later)) == 1000


def test_a_forked_process_never_mints_the_ids_its_parent_will() -> None:
    uuid7()  # the parent now holds random bits for its next ids
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: report its next ids, then leave at once
        os.write(write, b"".join(uuid7().bytes for _ in range(300)))
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read, "rb") as r:
        data = r.read()
    theirs = {data[i:i + 16][6:] for i in range(0, len(data), 16)}  # the random bits, without the time
    mine = {uuid7().bytes[6:] for _ in range(300)}
    assert len(theirs) == 300 and not theirs & mine


def test_a_minted_id_is_a_uuid_like_any_other() -> None:
    """Ids are built without UUID's own __init__ (see ids._uuid_of): they must behave as if they were not."""
    minted = uuid7()
    same = uuid.UUID(int=minted.int)
    assert type(minted) is uuid.UUID and minted == same and hash(minted) == hash(same)
    assert str(minted) == str(same) and minted.bytes == same.bytes and minted.is_safe is same.is_safe
    assert uuid.UUID(str(minted)) == minted and pickle.loads(pickle.dumps(minted)) == minted
    derived = derived_uuid(uuid.NAMESPACE_URL, "reward/referrer", minted)
    assert (derived.version, derived.variant) == (7, uuid.RFC_4122) and uuid7_time_ms(derived) == uuid7_time_ms(minted)
