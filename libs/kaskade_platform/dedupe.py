"""Keeping one copy of each fact a set-wise insert reported as new."""
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

T = TypeVar("T")


def first_of_each_new(items: Iterable[T], key: Callable[[T], Hashable], new_keys: set[Hashable]) -> list[T]:
    """Items whose key an `INSERT ... ON CONFLICT DO NOTHING RETURNING` reported as new, first copy only:
    a second copy in the same batch is a replay too."""
    remaining, kept = set(new_keys), []
    for item in items:
        k = key(item)
        if k in remaining:
            remaining.discard(k)
            kept.append(item)
    return kept


def latest_by(items: Iterable[T], key: Callable[[T], Hashable], version: Callable[[T], int]) -> list[T]:
    """The highest version of each key: one upsert may not touch a row twice."""
    best: dict[Hashable, T] = {}
    for item in items:
        k = key(item)
        if k not in best or version(item) > version(best[k]):
            best[k] = item
    return list(best.values())
