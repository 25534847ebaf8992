"""share-ingest's subscriber: the inbound topic for backends that publish commands directly.

Rejected commands go to kaskade.intake.v1.dlq with their reason; their neighbours are applied.
"""
from __future__ import annotations

from typing import Any

import asyncpg

from kaskade_contracts.envelope import Envelope
from kaskade_platform.consumer import Unprocessable
from share_ingest.intake import Intake


def intake_handler(intake: Intake) -> Any:
    async def on_commands(conn: asyncpg.Connection, commands: list[Envelope[Any]]) -> list[Envelope[Any]]:
        facts, outcomes = await intake.apply(conn, commands)
        rejected = {c.event_id: (o.error or "rejected", o.detail or "")
                    for c, o in zip(commands, outcomes) if o.status == "rejected"}
        if rejected:
            raise Unprocessable("rejected_commands", f"{len(rejected)} commands rejected", rejected)
        return facts
    return on_commands
