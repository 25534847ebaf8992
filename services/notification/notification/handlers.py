"""notification's subscriber: reward events become pending notifications (sending is separate)."""
from __future__ import annotations

from typing import Any

import asyncpg

from kaskade_contracts.envelope import Envelope
from kaskade_contracts.events import RewardGranted
from notification import domain, repo


async def on_reward_granted(conn: asyncpg.Connection, facts: list[Envelope[RewardGranted]]) -> list[Envelope[Any]]:
    await repo.record(conn, [n for e in facts for n in domain.for_reward_granted(e.tenant_id, e.event_id, e.payload)])
    return []
