"""RecentEnvelopes: a second reader of the same bytes gets the first reader's envelope, and
nothing else changes: bad bytes still raise, other bytes are decoded, old ones are forgotten."""
from __future__ import annotations

import uuid

import pytest

from kaskade_contracts.envelope import EnvelopeError, decode_envelope, encode_envelope, new_envelope
from kaskade_contracts.events import ConversionKind, ConversionRecorded
from kaskade_platform.recent import RecentEnvelopes


def _raw(customer: str) -> bytes:
    return encode_envelope(new_envelope(ConversionRecorded(conversion_id=uuid.uuid4(), customer_id=customer,
                                                           kind=ConversionKind.signup), tenant_id="acme"))


def test_the_same_bytes_read_twice_are_decoded_once() -> None:
    recent, raw = RecentEnvelopes(8), _raw("c1")
    first = recent.decode(raw)
    assert first == decode_envelope(raw)
    assert recent.decode(bytes(bytearray(raw))) is first  # another copy of the bytes, as Kafka hands it out
    assert (recent.hits, recent.misses) == (1, 1)


def test_other_bytes_are_decoded_on_their_own() -> None:
    recent, a, b = RecentEnvelopes(8), _raw("c1"), _raw("c1")  # same customer, another event
    assert recent.decode(a).event_id != recent.decode(b).event_id
    assert (recent.hits, recent.misses) == (0, 2)


@pytest.mark.parametrize("raw", [None, b"", b"not json", b'{"event_type":"Nope","schema_version":1}'])
def test_bytes_that_do_not_decode_raise_as_before_every_time(raw: bytes | None) -> None:
    recent = RecentEnvelopes(8)
    for _ in range(2):
        with pytest.raises(EnvelopeError):
            recent.decode(raw)
    assert recent.hits == 0


def test_an_envelope_written_here_is_read_back_without_decoding() -> None:
    recent = RecentEnvelopes(8)
    e = new_envelope(ConversionRecorded(conversion_id=uuid.uuid4(), customer_id="c1", kind=ConversionKind.signup),
                     tenant_id="acme")
    recent.remember(encode_envelope(e), e)
    assert recent.decode(encode_envelope(e)) is e and recent.misses == 0


def test_at_least_size_and_at_most_twice_size_are_remembered() -> None:
    recent = RecentEnvelopes(4)
    raws = [_raw(f"c{i}") for i in range(12)]
    envelopes = [recent.decode(r) for r in raws]
    assert all(recent.decode(r) is e for r, e in zip(raws[-4:], envelopes[-4:]))  # the last `size`: kept
    assert recent.decode(raws[0]) is not envelopes[0]  # long gone: decoded anew, equal
    assert recent.decode(raws[0]) == envelopes[0]
