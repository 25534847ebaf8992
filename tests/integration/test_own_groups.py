"""A run's own consumer groups (kaskade_devtools.groups) read what comes after their start, and
nothing an earlier run left on the topic."""
from __future__ import annotations

import os
import secrets
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from kaskade_devtools.groups import groups_of, own_names, start_group_at_end
from kaskade_devtools.testing import produce

pytestmark = pytest.mark.integration


async def _first_value(bootstrap: str, group: str, topic: str) -> bytes:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=10_000, max_records=1)
        (records,) = batch.values()
        return records[0].value
    finally:
        await consumer.stop()


async def test_a_group_started_at_the_end_skips_what_was_left_and_reads_what_comes(infra: Any) -> None:
    bootstrap, topic = infra.kafka_bootstrap_servers, f"test.own-groups.{secrets.token_hex(4)}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 3, 1)])
        await produce(bootstrap, [(topic, b"left by an earlier run", None)])
        group = f"test-own-{secrets.token_hex(4)}"

        assert await start_group_at_end(bootstrap, group, [topic]) == 3
        await produce(bootstrap, [(topic, b"this run's", None)])

        assert await _first_value(bootstrap, group, topic) == b"this run's"
    finally:
        await admin.delete_topics([topic])
        await admin.close()


async def test_a_topic_not_created_yet_is_left_to_start_from_its_beginning(infra: Any) -> None:
    assert await start_group_at_end(infra.kafka_bootstrap_servers, f"test-own-{secrets.token_hex(4)}",
                                    [f"test.not-there.{secrets.token_hex(4)}"]) == 0


def test_the_session_runs_the_services_under_names_of_its_own(infra: Any) -> None:
    names = {k: v for k, v in os.environ.items() if k.startswith("KASKADE_") and k.endswith("_SERVICE_NAME")}
    assert set(names) == set(own_names("x")), names
    suffixes = {v.rsplit("-", 1)[1] for v in names.values()}
    assert len(suffixes) == 1 and "test" in next(iter(names.values()))
    assert groups_of(names)[-1] == f"{names['KASKADE_ATTRIBUTION_SERVICE_NAME']}-analytics"
