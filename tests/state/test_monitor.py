"""The monitor of a networked backend: deadline, fail closed, one log line per outage."""

from __future__ import annotations

import asyncio
import logging

import pytest

from service.errors import StateUnavailable
from service.observability.metrics import text as metrics_text
from service.state.monitor import SETTLE, BackendMonitor, describe
from tests.conftest import Clock, LogRecords, Run


class BackendDown(Exception):
    pass


def monitor(clock: Clock, timeout: float = 5.0) -> BackendMonitor:
    return BackendMonitor("test-backend", timeout=timeout, errors=(BackendDown,), monotonic=clock)


async def answer() -> str:
    return "ok"


async def fail() -> str:
    raise BackendDown("refused")


def test_a_failure_is_state_unavailable_with_its_cause(clock: Clock, run: Run) -> None:
    watched = monitor(clock)
    assert run(watched.run("check", answer)) == "ok"
    with pytest.raises(StateUnavailable) as refused:
        run(watched.run("check", fail))
    assert isinstance(refused.value.__cause__, BackendDown)
    assert (refused.value.status_code, refused.value.headers) == (503, {"Retry-After": "1"})
    lines = metrics_text(watched.errors, watched.durations)
    assert 'shapestoken_state_errors_total{operation="check"} 1' in lines
    assert 'shapestoken_state_duration_seconds_count{operation="check"} 2' in lines


def test_a_call_past_the_deadline_is_cut_off(clock: Clock, run: Run) -> None:
    watched = monitor(clock, timeout=0.01)
    never = asyncio.Event()

    async def hang() -> str:
        await never.wait()  # were it not cut off, the test would hang here
        return "late"

    with pytest.raises(StateUnavailable) as refused:
        run(watched.run("ping", hang))
    assert isinstance(refused.value.__cause__, TimeoutError)


def test_a_flapping_backend_is_one_outage(clock: Clock, run: Run, log_records: LogRecords) -> None:
    watched = monitor(clock)
    for _ in range(10):  # fails every other call, a second apart
        with pytest.raises(StateUnavailable):
            run(watched.run("check", fail))
        clock.advance(1)
        run(watched.run("check", answer))
    assert log_records.messages == ["state backend unavailable: answering 503 until it returns"]
    assert log_records.fields(0) == {"backend": "test-backend", "error": "BackendDown: refused"}
    assert log_records.records[0].levelno == logging.ERROR

    clock.advance(SETTLE)
    run(watched.run("check", answer))
    run(watched.run("check", answer))
    assert log_records.messages[1:] == ["state backend is back"]
    assert log_records.fields(1) == {
        "backend": "test-backend",
        "outage_seconds": 10.0,  # from the first failure (t=0) to the answer at t=10
        "failed_calls": 10,
    }
    # A new failure is a new outage.
    with pytest.raises(StateUnavailable):
        run(watched.run("check", fail))
    assert len(log_records.records) == 3


def test_the_outage_is_measured_from_the_first_failure_to_the_recovery(
    clock: Clock, run: Run, log_records: LogRecords
) -> None:
    # Two failed calls a second apart, then no traffic until Redis answers 7 s in: the
    # outage lasted 7 s, not the 1 s between the two failures.
    watched = monitor(clock)
    for _ in range(2):
        with pytest.raises(StateUnavailable):
            run(watched.run("check", fail))
        clock.advance(1)
    clock.advance(5)
    run(watched.run("check", answer))
    clock.advance(SETTLE)
    run(watched.run("check", answer))
    assert log_records.messages[-1] == "state backend is back"
    assert log_records.fields(1)["outage_seconds"] == 7.0
    assert log_records.fields(1)["failed_calls"] == 2


def test_a_single_failed_call_is_an_outage_of_its_real_length(
    clock: Clock, run: Run, log_records: LogRecords
) -> None:
    watched = monitor(clock)
    with pytest.raises(StateUnavailable):
        run(watched.run("ping", fail))
    clock.advance(SETTLE + 2)  # the next call, well after the failure, is answered
    run(watched.run("ping", answer))
    assert log_records.fields(1)["outage_seconds"] == SETTLE + 2


def test_descriptions_are_short_and_name_the_error() -> None:
    assert describe(TimeoutError()) == "TimeoutError: no answer within the deadline"
    assert describe(ConnectionError("Error 111 connecting to redis:6379.")) == (
        "ConnectionError: Error 111 connecting to redis:6379."
    )
    assert len(describe(BackendDown("x" * 1000))) == 200
