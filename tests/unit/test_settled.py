"""A stop waits for the batches group members apply in the background, but not forever."""
import asyncio

from kaskade_platform.consumer import BatchConsumer
from kaskade_platform.outbox import Outbox


def _consumer() -> BatchConsumer:
    return BatchConsumer(name="test", group_id="test", broker=None, outbox=Outbox(),  # type: ignore[arg-type]
                         pool=lambda: None, handlers={})  # type: ignore[arg-type, return-value]


async def test_a_stop_waits_for_a_batch_in_flight_to_finish() -> None:
    consumer, finished = _consumer(), []

    async def batch() -> None:
        await asyncio.sleep(0.05)
        finished.append("committed")

    task = asyncio.create_task(batch())
    consumer.in_flight.add(task)
    task.add_done_callback(consumer.in_flight.discard)
    await consumer.settled(5.0)
    assert finished == ["committed"] and not consumer.in_flight


async def test_a_batch_still_running_at_the_timeout_is_cancelled_uncommitted() -> None:
    consumer = _consumer()
    task = asyncio.create_task(asyncio.sleep(60))  # a transaction stuck behind a lock
    consumer.in_flight.add(task)
    task.add_done_callback(consumer.in_flight.discard)
    await asyncio.wait_for(consumer.settled(0.1), 5)
    assert task.cancelled() and not consumer.in_flight
