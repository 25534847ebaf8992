"""Text columns sent packed (kaskade_platform.texts) read back in Postgres as the same values, in
the same order, whatever the values hold."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from kaskade_platform.db import create_pool
from kaskade_platform.migrations import migrate
from kaskade_platform.texts import NULL, SEP, columns, packed, packed_ints

pytestmark = pytest.mark.integration
SCHEMA = "kaskade_bench"

COLUMNS = [
    [],
    ["c-1"],
    [""],
    [None],
    ["a", "", "b", ""],
    ["", "a"],
    ["c-1", None, "c-3", None],
    ["käufer-ø", "顧客", "🙂", "with space", "comma,and\"quote", "back\\slash", "{brace}", "NULL", "null"],
    [f"evil{SEP}id", "plain"],
    [NULL, "plain"],
    [f"x{NULL}y", None],
    ["[1,2]", "[\"json\"]"],
    [str(i) for i in range(2000)],
]


@pytest.fixture
async def conn(infra: Any) -> Any:
    pool = await create_pool(os.environ["KASKADE_BENCH_DATABASE_URL"], SCHEMA, min_size=1, max_size=1)
    async with pool.acquire() as c:
        await migrate(c, SCHEMA, Path("/nonexistent-no-service-migrations"))
        yield c
    await pool.close()


@pytest.mark.parametrize("values", COLUMNS, ids=[f"column{i}" for i in range(len(COLUMNS))])
async def test_a_packed_column_reads_back_as_the_values_sent(conn: Any, values: list[str | None]) -> None:
    assert await conn.fetchval("SELECT unpack_texts($1)", packed(values)) == values


async def test_packed_columns_line_up_in_unnest_like_arrays(conn: Any) -> None:
    ids, names = ["c-1", "c-2", "c-3"], ["Ada", None, f"odd{SEP}one"]
    rows = await conn.fetch("SELECT * FROM unnest(unpack_texts($1), unpack_texts($2)) AS x(id, name)",
                            packed(ids), packed(names))
    assert [(r["id"], r["name"]) for r in rows] == list(zip(ids, names))


def test_plain_ids_travel_delimited_and_awkward_ones_as_json() -> None:
    assert packed(["a", None, "b"]) == f"{SEP}a{SEP}{NULL}{SEP}b"
    assert packed([f"a{SEP}b"]).startswith("[")
    assert packed([NULL]).startswith("[")
    assert packed([""]).startswith("[")


async def test_columns_of_rows_unnest_back_into_the_rows(conn: Any) -> None:
    rows = [("t1", 1, "a"), ("t2", 2, None)]
    args = columns(rows, 3, texts=(0, 2))
    assert isinstance(args[0], str) and args[1] == [1, 2] and isinstance(args[2], str)
    back = await conn.fetch("SELECT * FROM unnest(unpack_texts($1), $2::int[], unpack_texts($3)) AS x(t, n, s)", *args)
    assert [tuple(r) for r in back] == rows
    empty = columns([], 3, texts=(0,))
    assert await conn.fetchval("SELECT count(*) FROM unnest(unpack_texts($1), $2::int[], $3::text[])", *empty) == 0


INT_COLUMNS = [[], [0], [None], [None, None], [7, None, -3], [2**40, -(2**40)], list(range(-1000, 1000))]


@pytest.mark.parametrize("values", INT_COLUMNS, ids=[f"ints{i}" for i in range(len(INT_COLUMNS))])
async def test_a_packed_int_column_reads_back_as_the_values_sent(conn: Any, values: list[int | None]) -> None:
    assert await conn.fetchval("SELECT string_to_array($1, ',', 'n')::bigint[]", packed_ints(values)) == values


async def test_int_columns_pack_inside_columns_of_rows(conn: Any) -> None:
    rows = [("t1", 1, 10), ("t2", None, 20)]
    args = columns(rows, 3, texts=(0,), ints=(1,))
    assert isinstance(args[1], str) and args[2] == [10, 20]
    back = await conn.fetch("""SELECT * FROM unnest(unpack_texts($1), string_to_array($2, ',', 'n')::int[], $3::int[])
                               AS x(t, n, m)""", *args)
    assert [tuple(r) for r in back] == rows


async def test_a_null_column_reads_back_as_null(conn: Any) -> None:
    assert await conn.fetchval("SELECT unpack_texts(NULL)") is None


async def test_unpack_texts_is_inlined_into_the_statement(conn: Any) -> None:
    """Not inlined, it is planned again at every call site of every execution (about 25 µs each)."""
    async with conn.transaction():
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await conn.execute("PREPARE unpack_probe(text) AS SELECT * FROM unnest(unpack_texts($1))")
        try:
            plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN (VERBOSE) EXECUTE unpack_probe(E'\\x1fa')"))
        finally:
            await conn.execute("DEALLOCATE unpack_probe")
    assert "string_to_array" in plan and "unpack_texts(" not in plan, plan
