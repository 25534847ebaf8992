"""Consumer groups of their own for a run of the services that is not the deployment: the tests,
the demo, the benchmark.

Such a run used the services' default groups, shared with every earlier run on the same broker.
A run left behind (a test that published without consuming, a benchmark's hundreds of thousands of
events, an interrupted demo) then stood in front of the next run's events: the e2e tests timed
out after a benchmark, and `make run` printed 3 emails instead of 14. Under names of its own,
started at the end of every topic, a run reads what it publishes and nothing older.
"""
from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterable, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from kaskade_contracts import topics

# Each service's default name (its main consumer group), by the prefix of its settings.
SERVICE_NAMES = {"share_ingest": "share-ingest", "attribution": "attribution", "reward": "reward",
                 "notification": "notification"}
COORDINATOR_WAIT_S = 30.0


def own_names(run: str | None = None) -> dict[str, str]:
    """KASKADE_<SERVICE>_SERVICE_NAME for every service, suffixed with `run` (a fresh one by default)."""
    run = run or secrets.token_hex(4)
    return {f"KASKADE_{svc.upper()}_SERVICE_NAME": f"{name}-{run}" for svc, name in SERVICE_NAMES.items()}


def groups_of(names: dict[str, str]) -> list[str]:
    """The consumer groups services named so join: each one's own, and attribution's analytics group."""
    attribution = names["KASKADE_ATTRIBUTION_SERVICE_NAME"]
    return [*names.values(), f"{attribution}-analytics"]


async def start_group_at_end(bootstrap: str, group: str, topic_names: Sequence[str],
                             keep: Iterable[TopicPartition] = ()) -> int:
    """Commit the end of every partition of `topic_names` but those to `keep` for `group`, so it
    reads only what comes next. A topic that does not exist yet is left alone: the group starts at
    its beginning, which is then its end. Returns how many partitions were moved."""
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await c.start()
    try:
        await c._client.force_metadata_update()  # noqa: SLF001 - the topics may be brand new
        kept = set(keep)
        parts = [tp for t in topic_names for p in (c.partitions_for_topic(t) or ())
                 if (tp := TopicPartition(t, p)) not in kept]
        if not parts:
            return 0
        ends = await c.end_offsets(parts)
        c.assign(parts)
        deadline = asyncio.get_running_loop().time() + COORDINATOR_WAIT_S
        while True:
            try:
                await c.commit(dict(ends))
                return len(parts)
            except KafkaError as exc:  # a broker just started has no group coordinator for a moment
                if not exc.retriable or asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await c.stop()


async def start_at_end(bootstrap: str, names: dict[str, str]) -> None:
    """Start every group of services named `names` at the end of every Kaskade topic."""
    every = [t.name for t in topics.ALL]
    for group in groups_of(names):
        await start_group_at_end(bootstrap, group, every)
