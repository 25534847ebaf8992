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

_U16, _I32 = struct.Struct(">H"), struct.Struct(">i")
_ABSENT = _I32.pack(-1)
# Topics and header names are few and repeat on every record: each is length-prefixed once.
_PREFIXED: dict[str, bytes] = {}


def _prefixed(name: str) -> bytes:
    done = _PREFIXED.get(name)
    if done is None:
        n = name.encode()
        done = _U16.pack(len(n)) + n
        if len(_PREFIXED) < 10_000:
            _PREFIXED[name] = done
    return done


def frame(topic: str, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> bytes:
    parts = [_prefixed(topic),
             _ABSENT if key is None else _I32.pack(len(key)), key or b"",
             _ABSENT if value is None else _I32.pack(len(value)), value or b"",
             _U16.pack(len(headers))]
    for name, v in headers:
        parts += (_prefixed(name), _I32.pack(len(v)), v)
    return b"".join(parts)


def unpack(data: bytes) -> list[Record]:
    """The records of a bundle, in the order they were framed."""
    out: list[Record] = []
    view, at, end = memoryview(data), 0, len(data)
    u16, i32 = _U16.unpack_from, _I32.unpack_from
    while at < end:
        (n,) = u16(view, at)  # struct.error past the end: the bundle is cut short
        topic = bytes(view[at + 2:at + 2 + n]).decode()
        at += 2 + n
        key, at = _sized(view, at, i32)
        value, at = _sized(view, at, i32)
        (count,) = u16(view, at)
        at += 2
        headers = []
        for _ in range(count):
            (n,) = u16(view, at)
            name = bytes(view[at + 2:at + 2 + n]).decode()
            v, at = _sized(view, at + 2 + n, i32)
            headers.append((name, v or b""))
        out.append(Record(topic, key, value, headers))
    if at != end:
        raise ValueError(f"outbox bundle is cut short: {end} bytes, the last record ends at {at}")
    return out


def _sized(view: memoryview, at: int, i32: object) -> tuple[bytes | None, int]:
    (n,) = i32(view, at)  # type: ignore[operator]
    if n < 0:
        return None, at + 4
    return bytes(view[at + 4:at + 4 + n]), at + 4 + n
