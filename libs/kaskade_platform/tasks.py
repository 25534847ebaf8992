"""Stopping a background task so that it really stops.

On Python 3.11, `asyncio.wait_for` swallows a cancel that arrives just as the awaitable it wraps
completes, and returns that result instead (gh-86296, fixed in 3.12). A polling loop around it then
runs on, and `cancel(); await gather(task)` waits for it forever. The benchmark's offset watcher
stalled that way about once in 40 runs (the phase then hit its time budget, and bench/stuck.py
showed the watcher asleep in its loop after the cancel); notification's delivery loops wait on
their nudges with wait_for too, so a stop could have hung the same way.
"""
from __future__ import annotations

import asyncio


async def cancel_and_wait(*tasks: asyncio.Task[object] | None, every_s: float = 0.5) -> None:
    """Cancel `tasks` (None ones are skipped) and wait until each has ended, cancelling again every
    `every_s` seconds one is still running. A task that had failed keeps its error, read here as
    `gather(..., return_exceptions=True)` would, so it is not reported as never retrieved."""
    pending = {t for t in tasks if t is not None}
    while pending:
        for t in pending:
            t.cancel()
        _, pending = await asyncio.wait(pending, timeout=every_s)
    for t in tasks:
        if t is not None and not t.cancelled():
            t.exception()
