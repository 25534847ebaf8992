"""The messages the benchmark sends: real Kaskade envelopes, so every pipeline moves the same bytes.

Hop i of the ceiling and naive pipelines carries what Kaskade carries on its i-th topic:
RecordConversion (intake), ConversionRecorded, ConversionAttributed, RewardGranted.
"""
from __future__ import annotations

import hashlib
import uuid
import zlib
from dataclasses import dataclass
from typing import Any

from kaskade_contracts.envelope import Envelope, Payload, encode_envelope, new_envelope
from kaskade_contracts.events import (AttributionPath, Channel, ConversionAttributed, ConversionKind,
                                      ConversionRecorded, RecordConversion, RecordShare, RewardGranted,
                                      RewardKind, RewardRole)
from kaskade_contracts.ids import uuid7
from kaskade_platform.outbox import kafka_headers

HOP_MODELS: tuple[type[Payload], ...] = (RecordConversion, ConversionRecorded, ConversionAttributed, RewardGranted)
AMOUNT_MINOR = 4999


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One record ready for the producer."""
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def outgoing(envelope: Envelope[Any], topic: str | None = None) -> Outgoing:
    return Outgoing(topic or envelope.payload.topic, envelope.payload.partition_key(envelope.tenant_id).encode(),
                    encode_envelope(envelope), [(k, v.encode()) for k, v in kafka_headers(envelope).items()])


def record_share(tenant_id: str, sharer_id: str) -> Outgoing:
    return outgoing(new_envelope(RecordShare(share_id=uuid.uuid4(), sharer_id=sharer_id, channel=Channel.email),
                                 tenant_id=tenant_id))


def record_purchase(tenant_id: str, customer_id: str, referral_code: str) -> tuple[uuid.UUID, Outgoing]:
    conversion_id = uuid7()
    cmd = RecordConversion(conversion_id=conversion_id, customer_id=customer_id, kind=ConversionKind.purchase,
                           order_id=f"order-{conversion_id.hex[-12:]}", amount_minor=AMOUNT_MINOR,
                           referral_code=referral_code)
    return conversion_id, outgoing(new_envelope(cmd, tenant_id=tenant_id))


def next_payload(payload: Payload) -> Payload | None:
    """What the next hop carries for this payload, as the real services derive it (None after the last)."""
    if isinstance(payload, RecordConversion):
        return ConversionRecorded(**payload.model_dump())
    if isinstance(payload, ConversionRecorded):
        referrer_id = f"referrer-{zlib.crc32(payload.customer_id.encode()) % 200:04d}"
        return ConversionAttributed(
            conversion_id=payload.conversion_id, campaign_id=payload.campaign_id, kind=payload.kind,
            amount_minor=payload.amount_minor, currency=payload.currency, referee_id=payload.customer_id,
            referrer_id=referrer_id, root_seeder_id=referrer_id, generation=1, path=AttributionPath.referral_code)
    if isinstance(payload, ConversionAttributed):
        return RewardGranted(
            reward_id=uuid.uuid4(), idempotency_key=hashlib.sha256(payload.conversion_id.bytes).hexdigest(),
            campaign_id=payload.campaign_id, conversion_id=payload.conversion_id, rule_id="referrer-fixed",
            recipient_id=payload.referrer_id, role=RewardRole.referrer, kind=RewardKind.account_credit,
            amount_minor=500, currency=payload.currency, generation=payload.generation)
    return None


def hop_payloads(customer_id: str = "cust-000001") -> list[Payload]:
    """One payload per hop, as the real services would derive them from one purchase."""
    payloads: list[Payload] = [RecordConversion(
        conversion_id=uuid7(), customer_id=customer_id, kind=ConversionKind.purchase,
        order_id="order-0123456789ab", amount_minor=AMOUNT_MINOR, referral_code="AbCdEfGhIjKl")]
    while (nxt := next_payload(payloads[-1])) is not None:
        payloads.append(nxt)
    return payloads


def hop_records(tenant_id: str, topics: list[str]) -> list[Outgoing]:
    """A sample record per hop (same sizes, keys and headers as Kaskade's), for the pass-through stages."""
    out, cause = [], None
    for payload, topic in zip(hop_payloads(), topics):
        env = new_envelope(payload, tenant_id=tenant_id, causation=cause)
        out.append(outgoing(env, topic))
        cause = env
    return out


def first_hop_inputs(tenant_id: str, topic: str, count: int) -> list[Outgoing]:
    """Distinct first-hop records (distinct event ids and customers), as a product backend sends them."""
    out = []
    for i in range(count):
        cmd = RecordConversion(conversion_id=uuid7(), customer_id=f"cust-{i:06d}", kind=ConversionKind.purchase,
                               order_id=f"order-{i:012d}", amount_minor=AMOUNT_MINOR, referral_code="AbCdEfGhIjKl")
        out.append(outgoing(new_envelope(cmd, tenant_id=tenant_id), topic))
    return out
