"""What each signing key does now, and when that changes (the dashboard's Keys page)."""

from __future__ import annotations

from dataclasses import dataclass

from service.signing.keys import KeyRing


@dataclass(frozen=True)
class KeyState:
    kid: str
    alg: str
    created: float | None
    #: ``signing``, ``published`` (not signing yet) or ``retired`` (published for
    #: verification only, or no longer published once ``changes_at`` is past).
    state: str
    #: When the state changes next (Unix time); ``None``: not until a rotation.
    changes_at: float | None
    #: What it becomes then.
    next_state: str | None
    #: Still in the JWKS.
    published: bool


def key_states(ring: KeyRing, now: float) -> list[KeyState]:
    """Every key the ring holds, newest first."""
    schedule = ring.schedule()
    # The newest key whose start has come signs (as KeyRing.active, at ``now``).
    active = next(key for key, starts, _ in schedule if starts is None or starts <= now)
    states = []
    for i, (key, starts, until) in enumerate(schedule):
        successor_starts = schedule[i - 1][1] if i > 0 else None
        published = until is None or now < until
        changes_at: float | None
        next_state: str | None
        if key is active:
            state, changes_at, next_state = "signing", None, None
            if successor_starts is not None and successor_starts > now:
                changes_at, next_state = successor_starts, "retired"
        elif starts is not None and starts > now:
            state, changes_at, next_state = "published", starts, "signing"
        else:
            state = "retired"
            changes_at, next_state = (until, "unpublished") if published else (None, None)
        states.append(
            KeyState(
                kid=key.kid,
                alg=key.alg,
                created=key.created,
                state=state,
                changes_at=changes_at,
                next_state=next_state,
                published=published,
            )
        )
    return states
