"""The directory where several workers add up their metrics: shared, new per start, private."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.errors import ConfigError
from service.observability import multiprocess as workers
from service.observability.multiprocess import DIR_ENV, PREFIX, share_metrics


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(
        "service.observability.multiprocess.tempfile.gettempdir", lambda: str(tmp_path)
    )
    return tmp_path


def dead_pid() -> int:
    """The pid of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_one_worker_shares_nothing(temp_root: Path) -> None:
    environ: dict[str, str] = {}
    assert share_metrics(environ) is None
    assert share_metrics({"WEB_CONCURRENCY": "1"}) is None
    assert environ == {} and list(temp_root.iterdir()) == []


def test_the_workers_of_one_server_agree_on_a_private_directory(temp_root: Path) -> None:
    first: dict[str, str] = {"WEB_CONCURRENCY": "2"}
    second: dict[str, str] = {"WEB_CONCURRENCY": "2"}
    directory = share_metrics(first)
    # Another worker of the same server (the same parent process) finds the same one.
    assert directory is not None and share_metrics(second) == directory
    assert first[DIR_ENV] == second[DIR_ENV] == str(directory)
    started = workers.started(os.getppid())
    assert directory.name == f"{PREFIX}{os.getuid()}-{os.getppid()}-{started}"
    assert directory.stat().st_mode & 0o777 == 0o700


def test_a_named_directory_is_used_as_it_is(tmp_path: Path) -> None:
    named = tmp_path / "metrics"
    environ = {DIR_ENV: str(named), "WEB_CONCURRENCY": "4"}
    assert share_metrics(environ) == named and named.is_dir()


def test_a_directory_others_can_write_is_refused(temp_root: Path) -> None:
    name = f"{PREFIX}{os.getuid()}-{os.getppid()}-{workers.started(os.getppid())}"
    (temp_root / name).mkdir(mode=0o777)
    os.chmod(temp_root / name, 0o777)  # whatever the umask
    with pytest.raises(ConfigError, match="not a private directory"):
        share_metrics({"WEB_CONCURRENCY": "2"})


def test_directories_of_servers_that_exited_are_removed(temp_root: Path) -> None:
    uid = os.getuid()
    gone = temp_root / f"{PREFIX}{uid}-{dead_pid()}-12345"
    # Our own parent's pid, but another start time: a server from before a restart.
    reused = temp_root / f"{PREFIX}{uid}-{os.getppid()}-1"
    other_user = temp_root / f"{PREFIX}{uid + 1}-{dead_pid()}-12345"
    for directory in (gone, reused, other_user):
        directory.mkdir()
        (directory / "counter_1.db").write_bytes(b"")
    current = share_metrics({"WEB_CONCURRENCY": "2"})
    assert current is not None and current.is_dir()
    assert not gone.exists() and not reused.exists()
    assert other_user.exists()  # never another user's


def test_the_start_time_is_read_from_proc() -> None:
    own = workers.started(os.getpid())
    assert own.isdigit() and own != "0"
    assert workers.started(dead_pid()) == "0"
