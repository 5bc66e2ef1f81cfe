"""Who acted, and the names of the acts the audit trail records."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from service.store.audit import AuditEvent
from service.store.stk import utc

CLI = "cli"
#: Every action an audit event may name (the Activity page filters by these).
ACTIONS = (
    "client.create",
    "client.update",
    "client.rotate_secret",
    "client.delete",
    "block.create",
    "block.delete",
    "token.create",
    "token.revoke",
    "admin.add",
    "admin.remove",
    "admin.sign_in",
    "admin.sign_in_failed",
)


def administrator(name: str) -> str:
    """The actor of a named administrator in the dashboard."""
    return f"admin:{name}"


def api_token(token_id: str) -> str:
    """The actor of an ``admin`` API token."""
    return f"token:{token_id}"


def event(
    now: Callable[[], float],
    actor: str,
    action: str,
    target: str,
    details: Mapping[str, object] | None = None,
) -> AuditEvent:
    """An event at ``now()``; ``details`` must never hold a secret, a token or a password."""
    assert action in ACTIONS, action
    return AuditEvent(
        at=utc(now()), actor=actor, action=action, target=target, details=details or {}
    )
