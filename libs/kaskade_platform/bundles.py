"""The bytes of an outbox bundle: the Kafka records one transaction emitted, one after another.

A record is its topic, key, value and headers, each prefixed by its length:

    topic    u16 length, UTF-8
    key      i32 length (-1: no key), bytes
    value    i32 length (-1: a tombstone), bytes
    headers  u16 count, then per header: u16 length + UTF-8 name, i32 length + value

Records are framed one by one (`frame`), so a statement can also join the records of the rows
it turns out to store (string_agg in SQL, see share-ingest's clicks); a bundle is the frames
concatenated in order.
"""
from __future__ import annotations

import struct
from collections.abc import Sequence

from kaskade_platform.batches import Record

U16, I32 = struct.Struct(">H"), struct.Struct(">i")
_ABSENT = I32.pack(-1)
# Topics and header names are few and repeat on every record: each is length-prefixed once.
_PREFIXED: dict[str, bytes] = {}


def prefixed(name: str) -> bytes:
    done = _PREFIXED.get(name)
    if done is None:
        n = name.encode()
        done = U16.pack(len(n)) + n
        if len(_PREFIXED) < 10_000:
            _PREFIXED[name] = done
    return done


def frame(topic: str, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> bytes:
    parts = [prefixed(topic),
             _ABSENT if key is None else I32.pack(len(key)), key or b"",
             _ABSENT if value is None else I32.pack(len(value)), value or b"",
             U16.pack(len(headers))]
    for name, v in headers:
        parts += (prefixed(name), I32.pack(len(v)), v)
    return b"".join(parts)


def framed_header(name: str, value: bytes) -> bytes:
    """One header as `frame` writes it."""
    return prefixed(name) + I32.pack(len(value)) + value


def unpack(data: bytes) -> list[Record]:
    """The records of a bundle, in the order they were framed. Written out flat, slicing the bytes
    themselves and decoding each topic and header name once per process: the relay unpacks every
    event it ships (5.0 µs a record with a helper per field and a memoryview; 5.8 with a `max()`
    per length, which the branches here replace: 4.1 µs for a verdict with its five headers).

    A bundle's records mostly share their first headers (the contract's two and the tenant's, see
    outbox.framed): when a record's headers begin with the bytes an earlier record's began with,
    those headers are taken as already read. A bundle of 1,000 verdicts: 2.7 µs a record, against
    3.8 reading every header."""
    out: list[Record] = []
    at, end, names = 0, len(data), _NAMES
    u16, i32 = U16.unpack_from, I32.unpack_from
    lead, lead_headers = b"", ()  # a record's first LEAD headers, framed and read
    while at < end:
        (n,) = u16(data, at)  # struct.error past the end: the bundle is cut short
        at += 2
        raw = data[at:at + n]
        topic = names.get(raw) or _name(raw)
        at += n
        (n,) = i32(data, at)
        at += 4
        key = None
        if n >= 0:
            key = data[at:at + n]
            at += n
        (n,) = i32(data, at)
        at += 4
        value = None
        if n >= 0:
            value = data[at:at + n]
            at += n
        (count,) = u16(data, at)
        at += 2
        headers: list[tuple[str, bytes]] = []
        if count >= LEAD:
            if lead_headers and data.startswith(lead, at):
                headers += lead_headers
                at += len(lead)
            else:
                mark = at
                at = _headers(data, at, LEAD, headers)
                lead, lead_headers = data[mark:at], tuple(headers)
            count -= LEAD
        at = _headers(data, at, count, headers)
        out.append(Record(topic, key, value, headers))
    if at != end:  # a length ran past the end
        raise ValueError(f"outbox bundle is cut short: {end} bytes, the last record ends at {at}")
    return out


_NAMES: dict[bytes, str] = {}
LEAD = 3


def _headers(data: bytes, at: int, count: int, headers: list[tuple[str, bytes]]) -> int:
    """Read `count` headers at `at` into `headers`; returns where they end."""
    names, u16, i32 = _NAMES, U16.unpack_from, I32.unpack_from
    for _ in range(count):
        (n,) = u16(data, at)
        at += 2
        raw = data[at:at + n]
        at += n
        name = names.get(raw) or _name(raw)
        (n,) = i32(data, at)
        at += 4
        if n < 0:
            headers.append((name, b""))
        else:
            headers.append((name, data[at:at + n]))
            at += n
    return at


def _name(raw: bytes) -> str:
    name = raw.decode()
    if len(_NAMES) < 10_000:
        _NAMES[raw] = name
    return name
