"""Named administrators: ``admin add|list|remove``, and who signs in to the dashboard.

A name is 1 to 64 of ``a-z 0-9 . _ -``; a password at least 12 characters, kept
as an Argon2id hash (argon2-cffi's defaults, RFC 9106's second recommendation).
The name ``admin`` (or an empty name at sign-in) is the config's
``admin_password_hash``, so set-ups from before named administrators sign in
as before; it cannot be added to the database.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from service.admin import audit
from service.config.store import MAX_PASSWORD
from service.errors import ConfigError
from service.store.admins import Admin, AdminExists, Admins

NAME = re.compile(r"[a-z0-9._-]{1,64}", re.ASCII)
#: The administrator whose password is the config's admin_password_hash.
CONFIG_ADMIN = "admin"
MIN_PASSWORD = 12


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise ConfigError("name: 1 to 64 of a-z 0-9 . _ -")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"password: at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise ConfigError(f"password: at most {MAX_PASSWORD} characters")
    return password


def hash_password(password: str) -> str:
    from argon2 import PasswordHasher

    return PasswordHasher().hash(check_password(password))


class Accounts:
    def __init__(self, admins: Admins, *, now: Callable[[], float] = time.time) -> None:
        self.admins = admins
        self._now = now

    async def add(self, name: str, password: str, actor: str) -> Admin:
        check_name(name)
        if name == CONFIG_ADMIN:
            raise ConfigError(
                f"name: {CONFIG_ADMIN!r} is the config's admin_password_hash; choose another name"
            )
        password_hash = hash_password(password)
        try:
            return await self.admins.add(
                name, password_hash, audit.event(self._now, actor, "admin.add", name)
            )
        except AdminExists:
            raise ConfigError(f"name: an administrator {name!r} already exists") from None

    async def remove(self, name: str, actor: str) -> bool:
        return await self.admins.remove(name, audit.event(self._now, actor, "admin.remove", name))

    async def list(self) -> list[Admin]:
        return await self.admins.list()
