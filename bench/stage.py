"""One stage of the ceiling or naive pipeline, run as its own process (as each Kaskade service is).

    python -m bench.stage {ceiling|naive} HOP PREFIX TENANT READY_FILE

Stage HOP (1..4) consumes PREFIX.hopHOP and, except the last, forwards every message to
PREFIX.hop(HOP+1). It touches READY_FILE once its partitions are assigned, and exits on SIGTERM
or when the benchmark process that started it is gone.

- ceiling: raw aiokafka; a batch of up to 500 records (20 ms wait, like the services) is
  forwarded as pre-encoded bytes of the next hop's size (send all, then await the acks), then the
  offsets are committed. No decoding, no database.
- naive: what one writes first with FastStream: a per-message subscriber (default settings)
  taking the typed envelope, one transaction inserting the event id, then an awaited publish.
"""
from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener

from bench.kafka_io import producer
from bench.messages import HOP_MODELS, hop_records, next_payload

LAST_HOP = len(HOP_MODELS)
# The services' default batch (KASKADE_*_CONSUME_MAX_RECORDS); override to see what a bigger one buys.
MAX_RECORDS = int(os.environ.get("BENCH_CEILING_MAX_RECORDS", 500))


class ReadyOnAssignment(ConsumerRebalanceListener):
    def __init__(self, ready_file: Path) -> None:
        self.ready_file = ready_file

    async def on_partitions_revoked(self, revoked: Any) -> None:
        pass

    async def on_partitions_assigned(self, assigned: Any) -> None:
        if assigned:
            self.ready_file.touch()


async def run_ceiling(bootstrap: str, hop: int, prefix: str, tenant: str, ready: Path, stop: asyncio.Event) -> None:
    samples = hop_records(tenant, [f"{prefix}.hop{i}" for i in range(1, LAST_HOP + 1)])
    out = samples[hop] if hop < LAST_HOP else None
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=f"{prefix}.stage{hop}",
                                enable_auto_commit=False, auto_offset_reset="earliest")
    consumer.subscribe([f"{prefix}.hop{hop}"], listener=ReadyOnAssignment(ready))
    prod = producer(bootstrap)
    await consumer.start()
    await prod.start()
    # Keys spread over partitions as Kaskade's do: by customer (hop 2), one per campaign (hop 3),
    # by recipient (hop 4, 200 referrers).
    recipients = [f"{tenant}:referrer-{i:04d}".encode() for i in range(200)]
    forwarded = 0
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=20, max_records=MAX_RECORDS)
            if out is not None:
                futures = []
                for records in batches.values():
                    for r in records:
                        key = r.key if hop == 1 else out.key if hop == 2 else recipients[forwarded % 200]
                        futures.append(await prod.send(out.topic, out.value, key=key, headers=out.headers))
                        forwarded += 1
                await asyncio.gather(*futures)
            if batches:
                await consumer.commit()
    finally:
        print(f"ceiling stage {hop}: forwarded {forwarded}", flush=True)
        await consumer.stop()
        await prod.stop()


async def run_naive(bootstrap: str, hop: int, prefix: str, tenant: str, ready: Path, stop: asyncio.Event) -> None:
    import asyncpg
    from faststream.kafka import KafkaBroker

    from kaskade_contracts.envelope import envelope_model, new_envelope

    pool = await asyncpg.create_pool(os.environ["KASKADE_BENCH_DATABASE_URL"], min_size=1, max_size=4)
    broker = KafkaBroker(bootstrap)
    model = envelope_model(HOP_MODELS[hop - 1])
    dst = f"{prefix}.hop{hop + 1}" if hop < LAST_HOP else None
    insert = f"INSERT INTO kaskade_bench.naive_hop{hop} (event_id) VALUES ($1)"

    @broker.subscriber(f"{prefix}.hop{hop}", group_id=f"{prefix}.stage{hop}", auto_offset_reset="earliest",
                       listener=ReadyOnAssignment(ready))
    async def handle(event: model) -> None:  # type: ignore[valid-type]
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(insert, event.event_id)
        if dst is not None:
            nxt = new_envelope(next_payload(event.payload), tenant_id=event.tenant_id, causation=event)
            await broker.publish(nxt, topic=dst, key=nxt.payload.partition_key(nxt.tenant_id).encode())

    await broker.start()
    try:
        await stop.wait()
    finally:
        await broker.stop()
        await pool.close()


async def main(mode: str, hop: int, prefix: str, tenant: str, ready: Path) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    parent = os.getppid()

    async def orphan_watch() -> None:
        while os.getppid() == parent:
            await asyncio.sleep(1)
        stop.set()

    watch = asyncio.create_task(orphan_watch())
    run = run_ceiling if mode == "ceiling" else run_naive
    try:
        await run(os.environ.get("KASKADE_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"), hop, prefix, tenant, ready, stop)
    finally:
        watch.cancel()


if __name__ == "__main__":
    mode_, hop_, prefix_, tenant_, ready_ = sys.argv[1:6]
    import uvloop
    uvloop.run(main(mode_, int(hop_), prefix_, tenant_, Path(ready_)))
