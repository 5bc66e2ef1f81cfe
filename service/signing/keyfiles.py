"""Signing keys on disk: one PKCS#8 PEM file per key in ``signing_key_dir``.

Files are named ``<created UTC>-<kid prefix>.pem``; the creation time in the name
is what rotation counts from (a copied file keeps it, where its mtime would not).
Files are written 0600 in a 0700 directory; looser modes are reported, not fixed,
because the operator's deployment (a mounted secret, a shared volume) owns them.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import stat
import time
from datetime import UTC, datetime
from pathlib import Path

from service.signing.keys import SigningKey, generate, load_pem

_FILE_NAME = re.compile(r"(\d{8}T\d{6}Z)-[A-Za-z0-9_-]+\.pem")
#: The creation time at the start of a key file's name.
_STAMP = "%Y%m%dT%H%M%SZ"


def load_dir(directory: Path) -> list[SigningKey]:
    """Every ``*.pem`` key in ``directory``, newest first."""
    if not directory.is_dir():
        return []
    keys = [
        load_pem(path.read_bytes(), created=_created(path), name=path.name)
        for path in directory.glob("*.pem")
    ]
    return sorted(keys, key=lambda key: (key.created or 0.0, key.name), reverse=True)


#: The file ``shapestoken keys reload`` replaces; every process watching the directory
#: reads its keys again when it changes (a dotfile: never read as a key).
RELOAD_MARKER = ".reload"


def request_reload(directory: Path) -> None:
    """Ask every process that reads ``directory`` to read its keys again, within a second.

    The marker holds a new random value each time, so every watcher sees a change
    whatever its file system's time stamps; it is replaced whole (never half written).
    """
    temporary = directory / f"{RELOAD_MARKER}-{secrets.token_hex(8)}"
    temporary.write_text(secrets.token_hex(16))
    os.replace(temporary, directory / RELOAD_MARKER)


def stamp(directory: Path) -> tuple[int, int, bytes] | None:
    """What changes when a key file is added or removed, or a reload is asked for.

    None while the directory cannot be read (the reloader says so when it reads keys).
    """
    try:
        info = directory.stat()
    except OSError:
        return None
    try:
        with open(directory / RELOAD_MARKER, "rb") as marker:
            asked = marker.read(64)
    except OSError:
        asked = b""
    return (info.st_ino, info.st_mtime_ns, asked)


def write_new_key(directory: Path, alg: str, *, now: float | None = None) -> SigningKey:
    """Create a key file (mode 0600); it is published at once and signs once active."""
    created = time.time() if now is None else now
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    # The name's second orders the keys: a key made in the same second as another
    # takes the next second, so the newer one is always the newer by name.
    taken = {path.name[:16] for path in directory.glob("*.pem")}
    while _stamp(created) in taken:
        created = float(int(created) + 1)
    key = generate(alg, created=created)
    path = directory / f"{_stamp(created)}-{key.kid[:12]}.pem"
    # O_EXCL: never overwrite a key; 0o600 from the first byte, not chmod afterwards.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.pem())
    return dataclasses.replace(key, name=path.name)


def permission_warnings(directory: Path) -> list[str]:
    """What is wrong with the modes of the key directory and its key files."""
    if not directory.is_dir():
        return []
    warnings = []
    mode = stat.S_IMODE(directory.stat().st_mode)
    if mode & 0o007:
        warnings.append(
            f"signing key directory {directory} is open to others (mode {mode:04o}): "
            f"anyone on the machine may list or replace keys; chmod 700 {directory}"
        )
    for path in sorted(directory.glob("*.pem")):
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            warnings.append(
                f"signing key {path} is readable or writable by group or others "
                f"(mode {mode:04o}): whoever reads it can sign tokens; chmod 600 {path}"
            )
    return warnings


def _stamp(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).strftime(_STAMP)


def _created(path: Path) -> float:
    match = _FILE_NAME.fullmatch(path.name)
    if match:
        stamp = datetime.strptime(match[1], _STAMP).replace(tzinfo=UTC)
        return stamp.timestamp()
    return path.stat().st_mtime
