"""Outbox bundles: what the relay reads back is exactly what the outbox framed, in order."""
from __future__ import annotations

import struct
import uuid

import pytest

from kaskade_contracts.envelope import decode_envelope, encode_envelope, new_envelope
from kaskade_contracts.events import AttributionPath, ConversionAttributed, ConversionKind, ConversionRecorded
from kaskade_platform.batches import Record
from kaskade_platform.bundles import frame, unpack
from kaskade_platform.outbox import framed, kafka_header_pairs

RECORDS = [
    Record("kaskade.rewards.v1", b"acme:camp-1", b'{"event_id":"1"}',
           [("kaskade-event-type", b"RewardGranted"), ("kaskade-tenant-id", b"acme")]),
    Record("kaskade.customers.v1", b"acme:kund\xc3\xa9", None, []),  # a tombstone
    Record("kaskade.t\u00f6pic.v1", None, b"", [("h", b"")]),  # no key, an empty value, an empty header
    Record("kaskade.big.v1", b"k", b"x" * 70_000, [("kaskade-event-id", b"e" * 36)] * 5),
]


def _bundle(records: list[Record]) -> bytes:
    return b"".join(frame(r.topic, r.key, r.value, r.headers) for r in records)


def test_a_bundle_unpacks_into_the_records_framed_in_their_order() -> None:
    assert unpack(_bundle(RECORDS)) == RECORDS


def _headers(tenant: bytes, *ids: bytes) -> list[tuple[str, bytes]]:
    return [("kaskade-event-type", b"ConversionAttributed"), ("kaskade-schema-version", b"1"),
            ("kaskade-tenant-id", tenant), *(("kaskade-event-id", i) for i in ids)]


def test_records_that_begin_with_the_same_headers_each_keep_their_own() -> None:
    """The relay reads a run of records sharing their first headers once (bundles.LEAD); whatever
    follows those headers, and wherever the run breaks, each record comes back as framed."""
    records = [
        Record("t", b"k1", b"v1", _headers(b"acme", b"e1", b"c1")),
        Record("t", b"k2", b"v2", _headers(b"acme", b"e2", b"c2")),  # the same first three
        Record("t", b"k3", b"v3", _headers(b"acme")),  # only those three
        Record("t", b"k4", b"v4", _headers(b"acme", b"e4")),
        Record("t", b"k5", b"v5", _headers(b"beta", b"e5", b"c5")),  # another tenant
        Record("t", b"k6", b"v6", _headers(b"beta", b"e6", b"c6", b"x6")),
        Record("t", b"k7", b"v7", _headers(b"acme", b"e7", b"c7")),  # back to the first
        Record("t", b"k8", b"v8", _headers(b"acme")[:2]),  # fewer than three
        Record("t", None, None, []),
        Record("t", b"k9", b"v9", _headers(b"acm", b"e", b"e9")),  # a tenant that is a prefix of another
        Record("t", b"k10", b"v10", _headers(b"acme", b"e10")),
    ]
    assert unpack(_bundle(records)) == records


def test_a_tombstone_keeps_no_value_and_an_empty_value_stays_empty() -> None:
    tombstone, empty = unpack(_bundle(RECORDS[1:3]))
    assert tombstone.value is None and empty.value == b"" and empty.key is None


@pytest.mark.parametrize("cut", [1, 5, 40])
def test_a_bundle_cut_short_is_refused_not_read_as_fewer_records(cut: int) -> None:
    with pytest.raises((ValueError, struct.error)):
        unpack(_bundle(RECORDS[:1])[:-cut])


def test_a_framed_envelope_carries_its_own_ids_in_its_headers() -> None:
    """The event id's header text is cut from the encoded body and the correlation id's is reused
    between envelopes: neither may ever name another event's ids."""
    shared = uuid.uuid4()
    envelopes = [new_envelope(ConversionRecorded(conversion_id=uuid.uuid4(), customer_id=f"c{i}",
                                                 kind=ConversionKind.signup),
                              tenant_id="acme", correlation_id=shared if i % 3 else None) for i in range(9)]
    records = unpack(b"".join(framed(e) for e in envelopes))
    assert [(dict(r.headers)["kaskade-event-id"], dict(r.headers)["kaskade-correlation-id"]) for r in records] == [
        (str(e.event_id).encode(), str(e.correlation_id).encode()) for e in envelopes]
    assert [decode_envelope(r.value) for r in records] == envelopes


def test_framing_an_envelope_writes_what_the_general_frame_writes() -> None:
    """`framed` puts a record together from parts framed once per contract and tenant: the bytes must
    be those of `frame` over the envelope's topic, key, body and headers, whatever the contract,
    the tenant, or whether the correlation id is shared with the event before."""
    shared = uuid.uuid4()
    signup = ConversionRecorded(conversion_id=uuid.uuid4(), customer_id="c1", kind=ConversionKind.signup)
    purchase = ConversionRecorded(conversion_id=uuid.uuid4(), customer_id="kund\u00e9",
                                  kind=ConversionKind.purchase, amount_minor=4200)
    verdict = ConversionAttributed(conversion_id=uuid.uuid4(), campaign_id="camp-1", kind=ConversionKind.purchase,
                                   amount_minor=4200, currency="EUR", referee_id="c3", referrer_id="c1",
                                   root_seeder_id="c1", generation=1, path=AttributionPath.click)
    envelopes = [new_envelope(payload, tenant_id=tenant, correlation_id=shared if i % 2 else None)
                 for i, (payload, tenant) in enumerate([(signup, "acme"), (purchase, "other-shop"),
                                                        (verdict, "acme"), (signup, "acme")])]
    for e in envelopes:
        body = encode_envelope(e)
        expected = frame(e.payload.topic, e.payload.partition_key(e.tenant_id).encode(), body,
                         kafka_header_pairs(e, body))
        assert framed(e) == expected
    assert [r.headers[2][1] for r in unpack(b"".join(framed(e) for e in envelopes))] == [
        b"acme", b"other-shop", b"acme", b"acme"]
