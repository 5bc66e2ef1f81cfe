"""``deadline()``: asyncio.timeout's behaviour, with one timer per loop."""

from __future__ import annotations

import asyncio
import gc

import pytest

from service.support import deadline as module
from service.support.deadline import Deadline


async def stalled(seconds: float) -> str:
    """Waits on something that never happens, within ``seconds``."""
    with Deadline(seconds):
        await asyncio.Event().wait()
    return "finished"  # pragma: no cover (the event is never set)


def test_a_block_that_ends_in_time_leaves_nothing_behind() -> None:
    async def main() -> tuple[int, int]:
        with Deadline(10):
            await asyncio.sleep(0)
        watch = module._watch(asyncio.get_running_loop())
        return len(watch.pending), len(watch.expired)

    assert asyncio.run(main()) == (0, 0)


def test_a_late_block_raises_timeout_error_and_the_task_goes_on() -> None:
    async def main() -> str:
        with pytest.raises(TimeoutError):
            await stalled(0.01)
        # Not left cancelled: the task can still await.
        await asyncio.sleep(0)
        return "went on"

    assert asyncio.run(asyncio.wait_for(main(), timeout=10)) == "went on"


def test_only_the_late_blocks_of_many_time_out() -> None:
    async def main() -> list[str]:
        release = asyncio.Event()

        async def prompt() -> str:
            with Deadline(30):
                await release.wait()
            return "finished"

        async def late(seconds: float) -> str:
            try:
                return await stalled(seconds)
            except TimeoutError:
                return "timed out"

        tasks = [
            asyncio.create_task(late(0.02)),
            asyncio.create_task(prompt()),
            asyncio.create_task(late(0.01)),
        ]
        # Both late ones end by themselves; then the prompt one is released.
        await asyncio.wait([tasks[0], tasks[2]])
        release.set()
        return list(await asyncio.gather(*tasks))

    results = asyncio.run(asyncio.wait_for(main(), timeout=10))
    assert results == ["timed out", "finished", "timed out"]


def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    async def main() -> None:
        task = asyncio.create_task(stalled(30))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(asyncio.wait_for(main(), timeout=10))


def test_outside_a_task_it_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        with Deadline(1):
            pass  # pragma: no cover


def test_a_finished_loop_is_not_kept_alive() -> None:
    async def main() -> None:
        with Deadline(10):
            await asyncio.sleep(0)

    asyncio.run(main())
    gc.collect()
    assert len(module._watches) == 0
