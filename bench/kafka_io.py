"""Kafka plumbing the benchmark needs: topics, a batched producer, lag, and a tap on a topic's tail.

The tap is leaner than kaskade_devtools.testing.TopicWatcher on purpose: at tens of thousands of
records it must not validate every envelope with pydantic inside the process doing the timing.
"""
from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import GroupCoordinatorNotAvailableError, TopicAlreadyExistsError, UnknownTopicOrPartitionError

from bench.messages import Outgoing
from kaskade_platform.tasks import cancel_and_wait

ADMIN_TIMEOUT_S = 30.0


def producer(bootstrap: str) -> AIOKafkaProducer:
    """Configured like the services' producer (kaskade_platform.kafka.make_broker)."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=5,
                            max_batch_size=256 * 1024)


async def send_all(prod: AIOKafkaProducer, records: Iterable[Outgoing]) -> None:
    """Hand every record to the producer, then wait for all acks."""
    futures = [await prod.send(r.topic, r.value, key=r.key, headers=r.headers) for r in records]
    await asyncio.gather(*futures)


async def create_topics(bootstrap: str, names: Sequence[str], partitions: int = 6) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await asyncio.wait_for(admin.start(), ADMIN_TIMEOUT_S)
    try:
        existing = set(await admin.list_topics())
        stale = [n for n in names if n in existing]
        if stale:  # left over by a run that was killed: start empty
            await asyncio.wait_for(admin.delete_topics(stale), ADMIN_TIMEOUT_S)
            await _wait_gone(admin, stale)
        try:
            await asyncio.wait_for(admin.create_topics([NewTopic(n, partitions, 1) for n in names]), ADMIN_TIMEOUT_S)
        except TopicAlreadyExistsError:
            pass
    finally:
        await admin.close()


async def _wait_gone(admin: AIOKafkaAdminClient, names: Sequence[str]) -> None:
    deadline = time.monotonic() + ADMIN_TIMEOUT_S
    while set(names) & set(await admin.list_topics()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics not deleted after {ADMIN_TIMEOUT_S}s: {names}")
        await asyncio.sleep(0.2)


async def delete_topics(bootstrap: str, names: Sequence[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await asyncio.wait_for(admin.start(), ADMIN_TIMEOUT_S)
    try:
        present = [n for n in names if n in set(await admin.list_topics())]
        if present:
            await asyncio.wait_for(admin.delete_topics(present), ADMIN_TIMEOUT_S)
    except UnknownTopicOrPartitionError:
        pass
    finally:
        await admin.close()


async def stop_within(consumer: AIOKafkaConsumer) -> None:
    """Stop a bench consumer, giving up on it after ADMIN_TIMEOUT_S: it runs in a `finally`, where
    a stop that hangs would use up the phase's budget and hide the error that got it there."""
    try:
        await asyncio.wait_for(consumer.stop(), ADMIN_TIMEOUT_S)
    except TimeoutError:
        print(f"warning: a bench consumer did not stop within {ADMIN_TIMEOUT_S:.0f}s; left behind", flush=True)


async def group_lag(bootstrap: str, group: str, topics: Sequence[str]) -> int:
    """Records on `topics` that `group` has not committed yet."""
    return sum((await partition_lags(bootstrap, group, topics)).values())


async def partition_lags(bootstrap: str, group: str, topics: Sequence[str],
                         uncommitted: bool = True) -> dict[TopicPartition, int]:
    """Per partition of `topics`, the records `group` has not committed yet. A partition the group
    has never committed on counts all its records (or is left out, with `uncommitted` false)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await asyncio.wait_for(admin.start(), ADMIN_TIMEOUT_S)
    await asyncio.wait_for(consumer.start(), ADMIN_TIMEOUT_S)
    try:
        # A consumer without a subscription knows no topic's partitions until asked: without
        # this, `parts` came out empty and every lag read 0.
        await asyncio.wait_for(consumer._client.force_metadata_update(), ADMIN_TIMEOUT_S)  # noqa: SLF001
        committed = await _committed(admin, group)
        parts = [TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or ())]
        ends = await asyncio.wait_for(consumer.end_offsets(parts), ADMIN_TIMEOUT_S)
        done = {tp: o.offset for tp, o in committed.items() if o.offset >= 0}
        return {tp: end - done.get(tp, 0) for tp, end in ends.items() if uncommitted or tp in done}
    finally:
        await stop_within(consumer)
        await admin.close()


async def _committed(admin: AIOKafkaAdminClient, group: str) -> dict[TopicPartition, Any]:
    """The group's committed offsets. A fresh broker has no coordinator until its offsets topic
    exists, which the first such question creates: the bench on a new machine failed on it."""
    deadline = time.monotonic() + ADMIN_TIMEOUT_S
    while True:
        try:
            return await asyncio.wait_for(admin.list_consumer_group_offsets(group), ADMIN_TIMEOUT_S)
        except GroupCoordinatorNotAvailableError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _started(c: AIOKafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
    """Start a consumer outside any group; returns the partitions of `topics`."""
    await asyncio.wait_for(c.start(), ADMIN_TIMEOUT_S)
    # The topics may be brand new.
    await asyncio.wait_for(c._client.force_metadata_update(), ADMIN_TIMEOUT_S)  # noqa: SLF001
    parts = [TopicPartition(t, p) for t in topics for p in (c.partitions_for_topic(t) or ())]
    if not parts:
        raise RuntimeError(f"no partitions found for {topics}")
    return parts


class Tap:
    """Reads topics from their end as of `start()`, with no consumer group, calling `on_record`
    for every record with the time the batch arrived."""

    def __init__(self, bootstrap: str, topics: Sequence[str],
                 on_record: Callable[[ConsumerRecord, float], None]) -> None:
        self.topics, self.on_record = tuple(topics), on_record
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                          auto_offset_reset="latest", fetch_max_wait_ms=50)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        c = self._consumer
        parts = await _started(c, self.topics)
        c.assign(parts)
        await asyncio.wait_for(c.seek_to_end(*parts), ADMIN_TIMEOUT_S)
        for tp in parts:  # fix the positions now: nothing produced after start() is missed
            await asyncio.wait_for(c.position(tp), ADMIN_TIMEOUT_S)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=50, max_records=10_000)
            now = time.monotonic()
            for records in batches.values():
                for r in records:
                    self.on_record(r, now)

    async def wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if self._task is not None and self._task.done():
                raise RuntimeError(f"tap on {self.topics} died while waiting for {what}") from self._task.exception()
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        await stop_within(self._consumer)


class Landed:
    """Counts the records landing on topics by their partitions' end offsets while a run is timed,
    and reads them back afterwards. A Tap decodes every record as it arrives: at 12k events/s
    that took a tenth of the machine from the service being measured. The read-back then checks
    that every record counted is one the run sent (`read_back`)."""

    def __init__(self, bootstrap: str, topics: Sequence[str]) -> None:
        self.topics = tuple(topics)
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
        self.start_at: dict[TopicPartition, int] = {}
        self.end_at: dict[TopicPartition, int] = {}
        self.last = 0.0  # when the count was first seen reached

    async def start(self) -> None:
        parts = await _started(self._consumer, self.topics)
        self.start_at = await asyncio.wait_for(self._consumer.end_offsets(parts), ADMIN_TIMEOUT_S)

    async def wait(self, n: int, timeout: float, what: str, every_s: float = 0.02) -> None:
        """Until at least n records have landed since `start()`."""
        deadline = time.monotonic() + timeout
        while True:
            ends = await asyncio.wait_for(self._consumer.end_offsets(list(self.start_at)), ADMIN_TIMEOUT_S)
            if sum(ends[tp] - at for tp, at in self.start_at.items()) >= n:
                self.last, self.end_at = time.monotonic(), ends
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
            await asyncio.sleep(every_s)

    @property
    def counted(self) -> int:
        return sum(self.end_at[tp] - at for tp, at in self.start_at.items())

    async def read_back(self, on_record: Callable[[ConsumerRecord, float], None], timeout: float) -> None:
        """Every record counted by `wait`, to `on_record`, in partition order."""
        c, deadline = self._consumer, time.monotonic() + timeout
        todo = {tp: end for tp, end in self.end_at.items() if end > self.start_at[tp]}
        c.assign(list(todo))
        for tp in todo:
            c.seek(tp, self.start_at[tp])
        while todo:
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f}s reading back {self.topics}")
            for tp, records in (await c.getmany(*todo, timeout_ms=200, max_records=10_000)).items():
                end = todo.get(tp, -1)
                for r in records:
                    if r.offset < end:
                        on_record(r, self.last)
            for tp in list(todo):
                if await c.position(tp) >= todo[tp]:
                    del todo[tp]

    async def stop(self) -> None:
        await stop_within(self._consumer)


class Progress(Landed):
    """When records began and stopped landing on each topic, from the partitions' end offsets polled
    every `every_s`: what a Tap on every hop of a pipeline shows, without fetching a record. The
    end-to-end throughput run reads only its last hop, as the ceiling's run does; tapping all four
    had taken a tenth of the machine (the bench and Kafka's fetches) from the services measured."""

    def __init__(self, bootstrap: str, topics: Sequence[str], every_s: float = 0.02) -> None:
        super().__init__(bootstrap, topics)
        self.every_s = every_s
        self.landed: Counter[str] = Counter()
        self.began: dict[str, float] = {}  # topic -> when its count first grew
        self.ended: dict[str, float] = {}  # topic -> when its count last grew
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await super().start()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        parts = list(self.start_at)
        while True:
            ends = await asyncio.wait_for(self._consumer.end_offsets(parts), ADMIN_TIMEOUT_S)
            now = time.monotonic()
            landed: Counter[str] = Counter()
            for tp, at in self.start_at.items():
                landed[tp.topic] += ends[tp] - at
            for topic, n in landed.items():
                if n > self.landed[topic]:
                    self.began.setdefault(topic, now)
                    self.ended[topic] = now
            self.landed, self.end_at = landed, ends
            await asyncio.sleep(self.every_s)

    async def wait_for(self, topic: str, n: int, timeout: float, what: str) -> None:
        """Until at least n records have landed on `topic` since `start()`."""
        deadline = time.monotonic() + timeout
        while self.landed[topic] < n:
            if self._task is not None and self._task.done():
                raise RuntimeError(f"watch on {self.topics} died while waiting for {what}") from self._task.exception()
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
            await asyncio.sleep(self.every_s)

    def hops(self, t0: float) -> dict[str, dict[str, float]]:
        """Per topic, in the order given: how many records landed, and when the first and the last did (s after t0)."""
        return {t: {"events": self.landed[t], "first_s": round(self.began[t] - t0, 3),
                    "last_s": round(self.ended[t] - t0, 3)} for t in self.topics if t in self.began}

    async def halt(self) -> None:
        """Stop polling; what landed by then can still be read back."""
        await cancel_and_wait(self._task)
        self._task = None

    async def stop(self) -> None:
        await self.halt()
        await super().stop()


class Committed:
    """How far a consumer group has committed on `topics` since `start()`, sampled every `every_s`:
    the rate a group works off a backlog at, free of its start-up (which overlaps the first
    batches) and of the tail (partitions spread unevenly over the members finish apart).

    With `members` given, the window also starts only once the group is stable with that many
    members: instances starting together join one after another, and the rebalance each join
    causes (noticed at the next heartbeat, 3 s on) stops the group's work for a moment."""

    def __init__(self, bootstrap: str, group: str, topics: Sequence[str], every_s: float = 0.1,
                 members: int = 0) -> None:
        self.group, self.topics, self.every_s, self.members = group, set(topics), every_s, members
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._base: dict[TopicPartition, int] = {}
        self.samples: list[tuple[float, int]] = []  # (when, committed since start)
        self.settled_at: float | None = None  # when the group was first seen stable with all its members
        self._task: asyncio.Task[None] | None = None

    async def _offsets(self) -> dict[TopicPartition, int]:
        got = await asyncio.wait_for(self._admin.list_consumer_group_offsets(self.group), ADMIN_TIMEOUT_S)
        return {tp: o.offset for tp, o in got.items() if tp.topic in self.topics and o.offset >= 0}

    async def _settled(self) -> bool:
        [described] = await asyncio.wait_for(self._admin.describe_consumer_groups([self.group]), ADMIN_TIMEOUT_S)
        _error, _group, state, _protocol_type, _protocol, members, *_ = described.groups[0]
        return state == "Stable" and len(members) == self.members

    async def start(self) -> None:
        await asyncio.wait_for(self._admin.start(), ADMIN_TIMEOUT_S)
        self._base = await self._offsets()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            now = await self._offsets()
            when = time.monotonic()
            if self.members and self.settled_at is None and await self._settled():
                self.settled_at = when
            self.samples.append((when, sum(o - self._base.get(tp, 0) for tp, o in now.items())))
            await asyncio.sleep(self.every_s)

    def rate(self, n: int, low: float = 0.2, high: float = 0.8) -> tuple[float, float]:
        """(records/s, seconds) between the samples where low*n and high*n had been committed,
        the first of them once the group had settled; if it settled past high*n, up to the end."""
        settled = self.settled_at if self.members else 0.0
        if settled is None:
            raise RuntimeError(f"group {self.group} was never seen stable with {self.members} members")
        a = next((s for s in self.samples if s[1] >= low * n and s[0] >= settled), None)
        if a is None or a[1] >= n:
            raise RuntimeError(f"group {self.group} settled only after its backlog of {n} was worked off")
        b = next((s for s in self.samples if s[1] >= high * n and s[0] > a[0]), None) or \
            next(s for s in self.samples if s[1] >= n)
        return (b[1] - a[1]) / (b[0] - a[0]), b[0] - a[0]

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        await self._admin.close()


class TenantEvents:
    """A Tap's `on_record`: counts one tenant's events of the given types (read from the headers),
    and remembers when the last of them arrived."""

    def __init__(self, tenant: str, event_types: Iterable[str]) -> None:
        self.tenant, self.types = tenant.encode(), {t.encode(): t for t in event_types}
        self.by_type: Counter[str] = Counter()
        self.last = 0.0

    def on_record(self, r: ConsumerRecord, now: float) -> None:
        headers = dict(r.headers)
        kind = self.types.get(headers.get("kaskade-event-type", b""))
        if kind and headers.get("kaskade-tenant-id") == self.tenant:
            self.by_type[kind] += 1
            self.last = now

    @property
    def total(self) -> int:
        return sum(self.by_type.values())
