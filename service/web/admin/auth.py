"""Who may use the dashboard: the password, the session, the CSRF token.

The password is checked against its Argon2id hash in a worker thread (about
64 MiB and tens of milliseconds each), at most two at a time so a burst of
sign-ins cannot exhaust memory. Every form carries the session's CSRF token,
compared in constant time; the session cookie itself is ``SameSite=Strict``.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from service.config.store import MAX_PASSWORD
from service.errors import ServiceError
from service.support.secret import Secret

CONCURRENT_CHECKS = 2


class CSRFRejected(ServiceError):
    status_code = 403
    error = "invalid_csrf_token"
    description = (
        "This form is out of date or did not come from this dashboard. "
        "Reload the page and try again."
    )


class SignInRequired(ServiceError):
    status_code = 403
    error = "access_denied"
    description = "Your dashboard session has ended. Sign in again."


class PasswordCheck:
    def __init__(self, password_hash: Secret) -> None:
        self._hash = password_hash
        self._hasher = PasswordHasher()
        self._limiter: anyio.CapacityLimiter | None = None
        #: Checked for a name with no administrator, so the time does not tell (made once).
        self._decoy: str | None = None

    async def verify(self, password: str, password_hash: str | None = None) -> bool:
        """``password`` against ``admin_password_hash``, or against ``password_hash``."""
        if not password or len(password) > MAX_PASSWORD:
            return False
        if self._limiter is None:  # made in the server's event loop, on first use
            self._limiter = anyio.CapacityLimiter(CONCURRENT_CHECKS)
        expected = self._hash.reveal().decode() if password_hash is None else password_hash
        return await anyio.to_thread.run_sync(
            self._verify, expected, password, limiter=self._limiter
        )

    async def refuse(self, password: str) -> bool:
        """The same work as a real check, for a name with no administrator; always False."""
        if self._decoy is None:
            self._decoy = await anyio.to_thread.run_sync(
                self._hasher.hash, secrets.token_urlsafe(16)
            )
        await self.verify(password, self._decoy)
        return False

    def _verify(self, expected: str, password: str) -> bool:
        try:
            return self._hasher.verify(expected, password)
        except (VerificationError, InvalidHashError):
            return False


def csrf_token(session: MutableMapping[str, Any]) -> str:
    """The session's CSRF token, made on first use."""
    token = session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf(session: Mapping[str, Any], form: Mapping[str, Sequence[str]]) -> None:
    """Refuse (403) a form whose token is missing, repeated, or not this session's."""
    expected = session.get("csrf")
    given = form.get("csrf", [])
    if (
        not isinstance(expected, str)
        or len(given) != 1
        or not hmac.compare_digest(given[0].encode(), expected.encode())
    ):
        raise CSRFRejected()


def new_form_nonce(session: MutableMapping[str, Any]) -> str:
    """A one-time id for the Add-token form: a resubmitted POST makes no second token."""
    nonce = session["form"] = secrets.token_urlsafe(16)
    return nonce
