"""The dev stack's consumer groups, left as the benchmark found them.

Every phase publishes onto the shared topics under tenants of its own: the reward phase alone puts
over 100,000 verdicts on kaskade.rewards.v1. The dev stack's groups (`make run`, and tests run in a
working tree) would then have to read all of that before anything of theirs: the dev notification
group once had 455,582 rewards to go, and its tests timed out. A group that had read everything
when the benchmark started is moved to the end of its topics when it ends, which skips the
benchmark's records only, because no dev service may run during a benchmark (the phases report
one when they find it).
"""
from __future__ import annotations

from bench.kafka_io import group_lag, start_group_at_end
from kaskade_contracts import topics

_SHARED = (topics.TENANTS.name, topics.CAMPAIGNS.name, topics.ERASURES.name)
# Each dev group and the topics it reads (group id = the service's default name).
DEV_GROUPS: dict[str, tuple[str, ...]] = {
    "share-ingest": (topics.INTAKE.name,),
    "attribution": (*_SHARED, topics.SHARES.name, topics.CLICKS.name, topics.CONVERSIONS.name),
    "attribution-analytics": (topics.SHARES.name, topics.CLICKS.name, topics.CONVERSIONS.name,
                              topics.ATTRIBUTIONS.name, topics.ERASURES.name),
    "reward": (*_SHARED, topics.ATTRIBUTIONS.name, topics.SHARES.name),
    "notification": (*_SHARED, topics.CUSTOMERS.name, topics.REWARDS.name),
}


async def caught_up(bootstrap: str) -> list[str]:
    """The dev groups with nothing left to read (a group that never ran has everything left)."""
    return [g for g, inputs in DEV_GROUPS.items() if await group_lag(bootstrap, g, inputs) == 0]


async def skip_benchmark_records(bootstrap: str, groups: list[str]) -> None:
    for g in groups:
        await start_group_at_end(bootstrap, g, DEV_GROUPS[g])
