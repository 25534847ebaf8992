import asyncio

from kaskade_platform.tasks import cancel_and_wait


async def _swallows_cancels(times: int) -> None:
    """Polls like a watcher whose wait_for swallowed a cancel (Python 3.11): it goes on, `times` times."""
    while True:
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            if times == 0:
                raise
            times -= 1


async def test_a_task_that_swallowed_a_cancel_is_cancelled_again_until_it_ends() -> None:
    task = asyncio.create_task(_swallows_cancels(2))
    await asyncio.sleep(0.03)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=0.1)
    assert not done  # one cancel, as `cancel(); await gather(task)` gives, leaves it running
    # The helper's first cancel is swallowed too: only cancelling again ends it.
    await asyncio.wait_for(cancel_and_wait(task, every_s=0.05), 5)
    assert task.cancelled()


async def test_finished_failed_and_missing_tasks_are_left_as_they_are() -> None:
    async def fail() -> None:
        raise ValueError("its own error")

    done = asyncio.create_task(asyncio.sleep(0))
    failed = asyncio.create_task(fail())
    await asyncio.sleep(0.01)
    await asyncio.wait_for(cancel_and_wait(done, failed, None), 5)
    assert done.result() is None
    assert isinstance(failed.exception(), ValueError)
