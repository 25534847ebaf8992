"""Time-ordered ids for what Kaskade mints itself (event ids, click and share ids).

Every consumer stores the ids of the events it processed, and most tables are keyed by an id. A
random (version 4) id lands on a random page of its index, so once an index outgrows memory every
insert reads a page from disk. A version 7 id (RFC 9562) starts with the Unix time in milliseconds:
new ids go to the few pages at the index's newest end, which stay in memory however large it grows.
Ids derived from an idempotency key (uuid5) stay as they are: they must not depend on the time.
"""
from __future__ import annotations

import os
import time
import uuid

_RAND_A_SHIFT = 68  # of 80 random bits, the top 12 fill rand_a, the low 62 rand_b


def uuid7() -> uuid.UUID:
    """48 bits of Unix milliseconds, the version (7), 12 random bits, the variant (0b10), 62 random bits."""
    rand = int.from_bytes(os.urandom(10), "big")
    return uuid.UUID(int=(time.time_ns() // 1_000_000) << 80 | 0x7 << 76 | (rand >> _RAND_A_SHIFT) << 64
                     | 0b10 << 62 | rand & (1 << 62) - 1)


def uuid7_time_ms(value: uuid.UUID) -> int:
    """The Unix time in milliseconds a version 7 id was minted at."""
    return value.int >> 80
