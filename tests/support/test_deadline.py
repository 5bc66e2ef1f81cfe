"""``Deadline``: asyncio.timeout's behaviour, with one timer per loop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

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


# -- the same outcomes as asyncio.timeout -------------------------------------------------


@pytest.mark.parametrize("scenario", ["in time", "late", "cancelled elsewhere", "error inside"])
def test_every_outcome_is_asyncio_timeouts(scenario: str) -> None:
    """Each scenario run under asyncio.timeout and under Deadline ends the same way."""

    async def outcome(use_deadline: bool) -> str:
        def block(seconds: float) -> contextlib.AbstractAsyncContextManager[object]:
            if not use_deadline:
                return asyncio.timeout(seconds)

            @contextlib.asynccontextmanager
            async def sync_block() -> AsyncIterator[None]:
                with Deadline(seconds):
                    yield

            return sync_block()

        async def body() -> str:
            if scenario == "in time":
                async with block(10):
                    await asyncio.sleep(0)
                return "finished"
            if scenario == "late":
                async with block(0.01):
                    await asyncio.Event().wait()
            if scenario == "error inside":
                async with block(10):
                    raise ValueError("inside")
            async with block(10):
                await asyncio.Event().wait()
            return "unreachable"  # pragma: no cover

        task = asyncio.create_task(body())
        if scenario == "cancelled elsewhere":
            await asyncio.sleep(0.01)
            task.cancel()
        try:
            return await asyncio.wait_for(task, timeout=10)
        except BaseException as exc:  # noqa: BLE001 (the outcome is the exception's type)
            return type(exc).__name__

    def run(use_deadline: bool) -> str:
        return asyncio.run(outcome(use_deadline))

    assert run(use_deadline=True) == run(use_deadline=False)


def test_blocks_do_not_nest_in_one_task() -> None:
    async def main() -> None:
        with Deadline(10):
            with pytest.raises(RuntimeError, match="do not nest"):
                with Deadline(1):
                    pass  # pragma: no cover
        # The outer block ended as usual: nothing is left behind.
        assert module._watch(asyncio.get_running_loop()).pending == {}

    asyncio.run(main())
