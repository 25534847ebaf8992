"""A text column of a set-wise statement, sent as one string instead of a `text[]`.

asyncpg checks every element of an array argument against `collections.abc` in Python (two
`isinstance` calls per string) before it encodes it: about 0.4 µs per element. Attribution sends
some thirty text values per conversion; packed, its Python time per conversion fell from 147 to
127 µs and it went from 6.0-7.0k to 7.7-7.9k conversions/s in back-to-back runs. Joined into one
string here (a single C call) and split by `unpack_texts()` in the service's schema (platform
migration 0008), a column costs a tenth of that on either side. Other arrays (uuid, int,
timestamptz) are left as they are: they cost as much, but packing them costs a Python call per
value here and a parse in Postgres.

The values are joined by U+001F, with NULL written as U+001E, behind a leading U+001F. Ids are
free text from product backends, so a column in which a value holds either character, or equals
the NULL mark, travels as a JSON array instead: slower, never wrong.
"""
from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import orjson

SEP = "\x1f"
NULL = "\x1e"


def packed(values: Sequence[str | None]) -> str:
    """`values` for a parameter read as `unpack_texts($n)`."""
    try:
        body = SEP.join(values)  # type: ignore[arg-type]
    except TypeError:  # a NULL among them
        if NULL in values:
            return _as_json(values)
        body = SEP.join([NULL if v is None else v for v in values])
    else:
        if NULL in values:
            return _as_json(values)
    # A separator inside a value would split it; and one empty value would read as none.
    if body.count(SEP) != len(values) - 1 or (not body and len(values) == 1):
        return _as_json(values)
    return SEP + body


def packed_ints(values: Sequence[int | None]) -> str:
    """Integers for a parameter read as `string_to_array($n, ',', 'n')::int[]` (or `bigint[]`): joined
    here in C, where an `int[]` argument costs asyncpg its per-element `isinstance` checks (0.34 µs
    an element, against 0.01 packed: measured on 1,000). NULL travels as `n`."""
    if None in values:
        return ",".join(["n" if v is None else str(v) for v in values])
    return ",".join(map(str, values))


def _as_json(values: Sequence[str | None]) -> str:
    return orjson.dumps(list(values)).decode()


def columns(rows: Sequence[Sequence[Any]], width: int, texts: Collection[int] = (),
            ints: Collection[int] = ()) -> list[Any]:
    """`rows` as one argument per column, for `unnest`; the columns at the indexes in `texts` and
    `ints` packed."""
    cols: list[Any] = [list(c) for c in zip(*rows)] if rows else [[] for _ in range(width)]
    return [packed(c) if i in texts else packed_ints(c) if i in ints else c for i, c in enumerate(cols)]
