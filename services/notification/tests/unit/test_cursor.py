"""Page cursors: opaque, round-trip exactly, and anything else is refused (not a server error)."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from notification import cursor


def test_a_cursor_names_the_position_it_was_made_from() -> None:
    at, row = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc), uuid.uuid4()
    token = cursor.encode(at, row)
    assert cursor.decode(token) == (at, row)
    assert str(row) not in token  # opaque: callers pass it back, they do not build it


@pytest.mark.parametrize("token", ["", "x", "bm90IGEgY3Vyc29y", cursor.encode(datetime(2026, 5, 1), uuid.uuid4()),
                                   "\u00e9\u0000"])
def test_anything_else_is_refused(token: str) -> None:
    assert cursor.decode(token) is None
