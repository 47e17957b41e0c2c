"""Stopping the server's background tasks: a task that misses one cancellation must not hang the stop."""

from __future__ import annotations

import asyncio
import contextlib

from hall.tasks import cancel_and_wait


async def test_a_task_that_swallows_a_cancellation_is_still_stopped() -> None:
    gate = asyncio.Event()

    async def stubborn() -> None:
        with contextlib.suppress(asyncio.CancelledError):  # as a library below a subscription did
            await gate.wait()
        await asyncio.Event().wait()

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait([task], what="test"), 5)
    assert task.cancelled()


async def test_a_task_that_never_ends_is_left_behind_within_the_bound() -> None:
    refuse = True

    async def immortal() -> None:
        while refuse:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(10)

    task = asyncio.create_task(immortal())
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await cancel_and_wait([task, None], timeout_s=0.5, what="test")
    assert 0.4 < loop.time() - t0 < 3
    assert not task.done()
    refuse = False  # let it end, so the test leaves nothing running
    task.cancel()
    await asyncio.wait_for(task, 5)
