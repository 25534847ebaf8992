"""The dev stack's consumer groups, left as the benchmark found them.

Every phase publishes onto the shared topics under tenants of its own: the reward phase alone puts
over 100,000 verdicts on kaskade.rewards.v1. The dev stack's groups (`make services`; the demo and
the tests join groups of their own, kaskade_devtools.groups) would then have to read all of that
before anything of theirs: the dev notification group once had 455,582 rewards to go. Each
partition a dev group had read to the end when the benchmark started is moved to its end when it
ends, which skips the benchmark's records only, because no dev service may run during a benchmark
(the phases report one when they find it). So is each partition the group has never committed on,
and each topic the benchmark created: a group that never ran (on a fresh machine, before the first
`make services`) would otherwise begin with the benchmark's records. A partition with records left before the
benchmark keeps them, and the benchmark's after them: one committed offset cannot skip the one
without the other.
"""
from __future__ import annotations

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from bench.kafka_io import partition_lags
from kaskade_contracts import topics
from kaskade_devtools.groups import start_group_at_end

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


async def behind(bootstrap: str) -> dict[str, list[TopicPartition]]:
    """Per dev group, the partitions it had committed on and not read to the end."""
    out = {}
    for g, inputs in DEV_GROUPS.items():
        out[g] = [tp for tp, lag in (await partition_lags(bootstrap, g, inputs, uncommitted=False)).items() if lag]
    return out


async def skip_benchmark_records(bootstrap: str, behind: dict[str, list[TopicPartition]]
                                 ) -> tuple[dict[str, int], dict[str, str]]:
    """Moves every dev group to the end of every partition but those it was `behind` on. Returns
    the partitions moved per group, and, per group that could not be moved, why: a group with a
    member (a dev service started meanwhile, or one killed less than a session timeout ago)
    refuses an outsider's commit. The figures are printed all the same; only that group keeps
    the bench's records."""
    moved, refused = {}, {}
    for g, partitions in behind.items():
        try:
            moved[g] = await start_group_at_end(bootstrap, g, DEV_GROUPS[g], keep=partitions)
        except KafkaError as exc:
            refused[g] = repr(exc)[:300]
    return moved, refused
