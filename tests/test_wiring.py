"""Building the components: the state backend that the settings name, and its warnings."""

from __future__ import annotations

import asyncio
import logging

import pytest

from service.config.state import parse_state
from service.state.memory import MemoryState
from service.state.redis import RedisState
from service.wiring import build_state, warn_if_state_per_process
from tests.conftest import LogRecords, make_settings


def test_memory_is_built_for_memory_and_redis_for_a_url() -> None:
    assert isinstance(build_state(make_settings()), MemoryState)
    state = build_state(make_settings(state=parse_state("redis://127.0.0.1:1/0")))
    assert isinstance(state, RedisState)
    assert repr(state) == "RedisState(redis://127.0.0.1:1/0)"
    asyncio.run(state.aclose())


def test_several_workers_on_memory_state_warn(log_records: LogRecords) -> None:
    warn_if_state_per_process(make_settings(), {"WEB_CONCURRENCY": "4"})
    (message,) = log_records.messages
    assert message.startswith('state = "memory" with 4 workers: limits and revocations are per')
    assert "4 x 30/minute" in message and 'state = "redis://host:6379/0"' in message
    assert log_records.records[0].levelno == logging.WARNING


@pytest.mark.parametrize(
    ("state", "environ"),
    [
        ("memory", {}),
        ("memory", {"WEB_CONCURRENCY": "1"}),
        ("memory", {"WEB_CONCURRENCY": "several"}),
        ("redis://127.0.0.1:6379/0", {"WEB_CONCURRENCY": "4"}),
    ],
)
def test_no_warning_where_limits_hold(
    state: str, environ: dict[str, str], log_records: LogRecords
) -> None:
    warn_if_state_per_process(make_settings(state=parse_state(state)), environ)
    assert log_records.messages == []
