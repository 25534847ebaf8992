"""Group commit for the redirect's clicks.

A visitor is redirected only once their click is durable (the click row and its outbox row are
committed), yet one statement carries every click that arrived meanwhile: while one batch
commits, the next one gathers. A returning visitor's repeat click inside the dedup window is
resolved in the same round trip and counted once; one arriving while their earlier click is still
being written (in another batch, so invisible to this one's lookup) joins that click.
"""
from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

from kaskade_contracts.envelope import Envelope
from kaskade_contracts.events import LinkClicked
from kaskade_platform.outbox import Outbox
from share_ingest import repo


@dataclass(slots=True)
class Visit:
    """A person following a referral link; `click` is the fact to record unless it is a repeat."""
    click: Envelope[LinkClicked]
    returning: bool  # the visitor carried our cookie, so an earlier click may exist
    done: asyncio.Future[uuid.UUID] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    @property
    def key(self) -> tuple[str, str, str]:
        return self.click.tenant_id, self.click.payload.referral_code, self.click.payload.visitor_id


class ClickWriter:
    def __init__(self, pool: Callable[[], asyncpg.Pool], outbox: Outbox, dedup_window_s: int, *,
                 max_batch: int = 1000, max_in_flight: int = 2) -> None:
        self.pool, self.outbox, self.window_s = pool, outbox, dedup_window_s
        self.max_batch, self.max_in_flight = max_batch, max_in_flight
        self._waiting: list[Visit] = []
        self._in_flight = 0
        self._writing: dict[tuple[str, str, str], asyncio.Future[uuid.UUID]] = {}

    async def record(self, visit: Visit) -> uuid.UUID:
        """The click id the visitor is sent on with: a new one, or the one of their recent click."""
        if visit.returning:
            earlier = self._writing.get(visit.key)
            if earlier is not None:
                return await asyncio.shield(earlier)
            self._writing[visit.key] = visit.done
            visit.done.add_done_callback(lambda done, key=visit.key: self._forget(key, done))
        self._waiting.append(visit)
        if self._in_flight < self.max_in_flight:
            self._in_flight += 1
            asyncio.get_running_loop().create_task(self._drain())
        # shielded: a visitor who hangs up must not cancel the answer that repeat clicks joined
        return await asyncio.shield(visit.done)

    def _forget(self, key: tuple[str, str, str], done: asyncio.Future[uuid.UUID]) -> None:
        if self._writing.get(key) is done:
            del self._writing[key]

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:self.max_batch], self._waiting[self.max_batch:]
                try:
                    await self._write(batch)
                except Exception as exc:  # noqa: BLE001 - each waiting visitor gets the error (a 503)
                    for visit in batch:
                        if not visit.done.done():
                            visit.done.set_exception(exc)
        finally:
            self._in_flight -= 1

    async def _write(self, batch: list[Visit]) -> None:
        first: dict[tuple[str, str, str], Visit] = {}
        for visit in batch:  # one visitor's double click inside this batch is one click
            first.setdefault(visit.key, visit)
        fresh = list(first.values())
        async with self.pool().acquire() as conn:
            repeats = await repo.record_visits(conn, [v.click for v in fresh], [v.returning for v in fresh],
                                               self.window_s)
        self.outbox.notify_committed()
        for visit in batch:
            click_id = first[visit.key].click.payload.click_id
            if not visit.done.done():
                visit.done.set_result(repeats.get(click_id, click_id))
