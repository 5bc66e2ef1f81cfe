"""``shapestoken customers``: blocks made by hand, held in the Redis every replica reads."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.cli import main
from service.config import load_settings
from service.config.state import RedisURL
from service.state.redis import RedisState
from tests.conftest import SECRET
from tests.redis_server import RedisServer
from tests.servers import config_toml, free_port

SHOP = "acme.myshopify.com"


def configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state: str) -> Path:
    config = tmp_path / "shapestoken.toml"
    config.write_text(config_toml("https://tokens.example.com", extra=f'state = "{state}"'))
    monkeypatch.setenv("SHAPESTOKEN_CONFIG", str(config))
    monkeypatch.setenv("SHOP_ID_SECRET", SECRET)
    monkeypatch.chdir(tmp_path)
    return config


@pytest.fixture
def shared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer
) -> Iterator[Path]:
    """A config on database 1 of the test Redis, emptied first: blocks use the real prefix."""
    with redis_server.client() as client:
        client.select(1)
        client.flushdb()
    yield configure(tmp_path, monkeypatch, f"redis://127.0.0.1:{redis_server.port}/1")


def token_active(config: Path, issued_at: int) -> bool:
    """What every replica's /v1/me asks, through the same state the servers build."""
    settings = load_settings(config)
    assert isinstance(settings.state, RedisURL)
    state = RedisState.from_url(settings.state, {}, max_token_ttl=settings.max_token_ttl)

    async def ask() -> bool:
        try:
            return await state.token_active("jti", issued_at=issued_at, customer=(SHOP, "42"))
        finally:
            await state.aclose()

    return asyncio.run(ask())


def test_block_list_unblock(shared: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = 1_000_000_000  # a token issued long before the block
    assert token_active(shared, before)
    assert main(["customers", "list"]) == 0
    assert capsys.readouterr().err == "no blocked customers\n"

    assert main(["customers", "block", SHOP, "42", "--reason", "chargeback fraud"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"blocked {SHOP} 42 at 20")
    assert "every token issued until now is inactive on every replica" in out
    assert not token_active(shared, before)
    assert main(["customers", "block", SHOP, "7"]) == 0
    capsys.readouterr()

    assert main(["customers", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[:2] for line in lines] == [[SHOP, "42"], [SHOP, "7"]]
    assert lines[0].endswith("Z\tchargeback fraud") and lines[1].endswith("Z\t")

    assert main(["customers", "unblock", SHOP, "42"]) == 0
    out = capsys.readouterr().out
    assert "tokens issued before the block stay inactive until they expire (at most 900 s)" in out
    assert not token_active(shared, before)  # issued before the block: still inactive
    assert main(["customers", "unblock", SHOP, "42"]) == 1
    assert capsys.readouterr().err == f"shapestoken: {SHOP} 42 is not blocked\n"
    assert main(["customers", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == [lines[1]]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["block", "other.myshopify.com", "42"], "shop other.myshopify.com is not configured"),
        (["block", "acme.com", "42"], "'acme.com' is not a <name>.myshopify.com domain"),
        (["block", SHOP, "042"], "customer id: `id` must be a Shopify customer ID"),
        (["block", SHOP, "-1"], "customer id"),
        (["unblock", SHOP, "x"], "customer id"),
        (["block", SHOP, "42", "--reason", "a\nforged log line"], "--reason: at most 200"),
        (["block", SHOP, "42", "--reason", "x" * 201], "--reason: at most 200 printable"),
    ],
)
def test_bad_arguments_exit_2_and_change_nothing(
    shared: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["customers", *argv]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""
    assert main(["customers", "list"]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "argv", [["block", SHOP, "42"], ["unblock", SHOP, "42"], ["list"]], ids=lambda a: a[0]
)
def test_memory_state_refuses_with_exit_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
) -> None:
    configure(tmp_path, monkeypatch, "memory")
    assert main(["customers", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert 'blocks need state = "redis://host:6379/0"' in captured.err
    assert "a command cannot reach it" in captured.err


def test_an_unreachable_redis_exits_1_saying_where_never_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()  # nothing listens there
    configure(tmp_path, monkeypatch, f"redis://:hunter2-is-a-password@127.0.0.1:{port}/0")
    assert main(["customers", "block", SHOP, "42"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(
        f"shapestoken: cannot reach redis://**********@127.0.0.1:{port}/0: ConnectionError"
    )
    assert "hunter2" not in captured.err and "503" not in captured.err
