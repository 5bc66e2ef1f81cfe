"""Running processes pick up rotated keys without a restart."""

from __future__ import annotations

import asyncio
import functools
import io
from pathlib import Path

from service.errors import ConfigError
from service.signing import keyfiles, keys
from service.signing.keyreload import RELOAD_INTERVAL, KeyReloader
from tests.conftest import Clock


def test_the_interval_is_at_most_a_minute() -> None:
    assert 0 < RELOAD_INTERVAL <= 60


def test_a_reload_publishes_a_rotated_key(tmp_path: Path, log_lines: io.StringIO) -> None:
    clock = Clock()
    directory = tmp_path / "keys"
    first = keyfiles.write_new_key(directory, "ES256", now=clock() - 3600)
    ring = keys.KeyRing(keyfiles.load_dir(directory), window=100, activation_delay=900, now=clock)
    reloader = KeyReloader(ring, lambda: keyfiles.load_dir(directory))
    second = keyfiles.write_new_key(directory, "ES256", now=clock())
    assert second.kid not in {key["kid"] for key in ring.jwks()["keys"]}
    asyncio.run(reloader.reload())
    assert [key["kid"] for key in ring.jwks()["keys"]] == [second.kid, first.kid]
    assert ring.active.kid == first.kid  # published first, signing later
    clock.advance(900)
    assert ring.active.kid == second.kid
    assert f"signing keys reloaded added={second.kid}" in log_lines.getvalue()


def test_an_unreadable_directory_keeps_the_keys_and_says_so_once(
    log_lines: io.StringIO,
) -> None:
    key = keys.generate("ES256")
    ring = keys.KeyRing([key], window=100)

    def broken() -> list[keys.SigningKey]:
        raise ConfigError("broken.pem: not an unencrypted PEM private key")

    reloader = KeyReloader(ring, broken)
    for _ in range(3):
        asyncio.run(reloader.reload())
    assert ring.active is key
    text = log_lines.getvalue()
    assert text.count("signing keys not reloaded, keeping the current ones") == 1
    assert "broken.pem" in text


def test_a_wake_up_reloads_at_once(tmp_path: Path) -> None:
    # SIGHUP calls wake(): the reload does not wait for the interval.
    directory = tmp_path / "keys"
    keyfiles.write_new_key(directory, "ES256", now=1_800_000_000)
    ring = keys.KeyRing(keyfiles.load_dir(directory), window=100)
    reloader = KeyReloader(ring, lambda: keyfiles.load_dir(directory), interval=3600)
    added = keyfiles.write_new_key(directory, "ES256", now=1_800_000_100)

    async def scenario() -> bool:
        task = asyncio.create_task(reloader.run())
        reloader.wake()
        for _ in range(1000):  # bounded: each turn yields to the reloader's thread
            if added.kid in {key.kid for key in ring.keys}:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        return added.kid in {key.kid for key in ring.keys}

    assert asyncio.run(scenario())


def test_a_reload_request_is_seen_at_the_next_look_and_only_then(tmp_path: Path) -> None:
    # `keys reload` replaces a marker file; each process looks at the stamp every second.
    directory = tmp_path / "keys"
    keyfiles.write_new_key(directory, "ES256", now=1_800_000_000)
    ring = keys.KeyRing(keyfiles.load_dir(directory), window=100)
    loads: list[int] = []

    def read() -> list[keys.SigningKey]:
        loads.append(1)
        return keyfiles.load_dir(directory)

    reloader = KeyReloader(
        ring, read, interval=3600, stamp=functools.partial(keyfiles.stamp, directory)
    )

    async def scenario() -> list[bool]:
        seen = [await reloader.poll()]  # the first look takes the stamp and reads
        seen.append(await reloader.poll())  # nothing changed: no read
        keyfiles.request_reload(directory)
        seen.append(await reloader.poll())
        seen.append(await reloader.poll())
        added = keyfiles.write_new_key(directory, "ES256", now=1_800_000_100)
        seen.append(await reloader.poll())  # a new key file changes the directory too
        assert added.kid in {key.kid for key in ring.keys}
        return seen

    assert asyncio.run(scenario()) == [True, False, True, False, True]
    assert len(loads) == 3
    assert sorted(path.name for path in directory.iterdir() if path.name.startswith(".")) == [
        keyfiles.RELOAD_MARKER
    ]


def test_reload_requests_never_repeat_a_stamp(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    keyfiles.write_new_key(directory, "ES256")
    stamps = set()
    for _ in range(20):  # faster than any file system's time stamps tick
        keyfiles.request_reload(directory)
        stamps.add(keyfiles.stamp(directory))
    assert len(stamps) == 20 and None not in stamps
