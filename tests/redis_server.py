"""A real ``redis-server`` on a free port that tests start, stop, restart and slow down.

``scripts/test`` installs Debian's ``redis-server`` when it is missing; a test
that needs Redis and finds none fails (it never skips). The server keeps
nothing on disk (``--save "" --appendonly no``) and accepts ``DEBUG`` from
loopback so tests can make it sleep.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tests.servers import free_port


def redis_server_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed; ./scripts/test installs it through apt")
    return binary


class RedisServer:
    def __init__(
        self, directory: Path, port: int | None = None, *, extra: tuple[str, ...] = ()
    ) -> None:
        self.directory = directory
        self.port = port or free_port()
        #: More redis-server options, e.g. a TLS port beside the plain one.
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                redis_server_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--enable-debug-command",
                "local",
                "--dir",
                str(self.directory),
                "--logfile",
                str(self.directory / "redis.log"),
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.directory / "redis.log").read_text(errors="replace")
                raise RuntimeError(f"redis-server exited:\n{log}")
            try:
                if self.client().ping():
                    return self
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not answer within 10 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self) -> redis.Redis:
        """A plain client for the test itself: inspect keys, pause or flush the server."""
        return redis.Redis(port=self.port, socket_timeout=5, socket_connect_timeout=1)

    def pause(self, milliseconds: int) -> None:
        """Hold every client's commands for ``milliseconds`` (CLIENT PAUSE ... ALL)."""
        with self.client() as client:
            client.execute_command("CLIENT", "PAUSE", milliseconds, "ALL")
