"""Everything the endpoints use, built once from the settings.

:func:`build_components` is where the pieces meet: the keyring, the token issuer
and verifier, the shared state, the customer rules, the OAuth server, the
API-token store and the metrics. The HTTP layer gets one :class:`Components`
and tests build their own with a fake clock.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from service.config import KEYS_ENV, RedisURL, Settings
from service.config.advice import config_warnings
from service.customers.rules import CustomerTokens
from service.errors import ConfigError
from service.oauth.introspection import API_TOKEN_PREFIX, TokenLookup
from service.oauth.server import OAuthServer
from service.observability.logs import log
from service.observability.metrics import Metrics
from service.observability.multiprocess import workers
from service.signing import keyfiles, keys
from service.signing.dpop import DPoP
from service.signing.tokens import TokenIssuer, TokenVerifier
from service.state import State
from service.state.base import Listener
from service.state.memory import MemoryState

if TYPE_CHECKING:
    from service.admin.services import Administration
    from service.store.apitokens import ApiTokenStore
    from service.store.sessions import AdminSessions


@dataclass
class Components:
    settings: Settings
    keyring: keys.KeyRing
    issuer: TokenIssuer
    verifier: TokenVerifier
    state: State
    customers: CustomerTokens
    oauth: OAuthServer
    metrics: Metrics
    #: DPoP proofs (RFC 9449) at the token endpoints and /v1/me, and their nonces.
    dpop: DPoP
    now: Callable[[], float] = time.time
    #: The SQL store of API tokens (create, list, revoke); ``None`` without a ``database``.
    token_store: ApiTokenStore | None = None
    #: Dashboard sessions; None unless ``admin_password_hash`` is set.
    admin_sessions: AdminSessions | None = None
    #: Reads the signing keys again (a key directory); ``None``: they never change.
    key_source: Callable[[], list[keys.SigningKey]] | None = None
    #: What the server runs beside its requests until it stops (hearing announcements).
    background: list[Listener] = field(default_factory=list)
    #: Runtime clients, blocks, tokens, administrators, audit; ``None`` without a ``database``.
    admin: Administration | None = None

    async def aclose(self) -> None:
        """Release the state backend's and the database's connections."""
        await self.state.aclose()
        if self.token_store is not None:
            await self.token_store.aclose()


def read_keys(settings: Settings) -> tuple[list[keys.SigningKey], str]:
    """The signing keys (newest first) and where they came from."""
    if settings.signing_keys_pem is not None:
        return keys.load_bundle(settings.signing_keys_pem.reveal().decode("ascii")), KEYS_ENV
    return keyfiles.load_dir(settings.signing_key_dir), str(settings.signing_key_dir)


def load_keyring(settings: Settings, *, now: Callable[[], float] = time.time) -> keys.KeyRing:
    """The signing keys from the environment bundle or the key directory.

    Refuses to start without one: replicas must share keys, and a key made up
    per replica would sign tokens the other replicas' JWKS does not publish.
    """
    found, where = read_keys(settings)
    if not found and settings.signing_keys_pem is not None:
        # A file written by `keys generate` would be ignored: the variable wins.
        raise ConfigError(
            f"no signing key in {KEYS_ENV}: it holds no complete PEM private key block "
            "(-----BEGIN PRIVATE KEY----- to -----END PRIVATE KEY-----); make one with "
            "`shapestoken keys generate --print`"
        )
    if not found:
        raise ConfigError(f"no signing key in {where}; create one with `shapestoken keys generate`")
    ring = keys.KeyRing(
        found,
        window=keys.publish_window(settings.max_token_ttl),
        activation_delay=settings.key_activation_delay,
        now=now,
    )
    newest = found[0]
    if newest.alg != settings.signing_alg:
        raise ConfigError(
            f"the newest signing key is {newest.alg} but signing_alg is "
            f"{settings.signing_alg}; run `shapestoken keys rotate` to add one"
        )
    return ring


def key_source(settings: Settings) -> Callable[[], list[keys.SigningKey]] | None:
    """How a running process reads its keys again; ``None`` for the environment bundle,
    which cannot change under a running process."""
    if settings.signing_keys_pem is not None:
        return None
    directory = settings.signing_key_dir

    def read() -> list[keys.SigningKey]:
        found = keyfiles.load_dir(directory)
        if not found:
            raise ConfigError(f"no signing key in {directory}")
        return found

    return read


def startup_summary(settings: Settings, keyring: keys.KeyRing) -> dict[str, object]:
    """What a server loaded, for its one start-up line: counts and kinds, never a secret.

    Hosts are named, credentials never: the Redis URL and the database URL may
    carry passwords, so only their host (or SQLite file) is taken from them.
    """
    clients = settings.clients.values()
    confidential = sum(1 for client in clients if client.confidential)
    fields: dict[str, object] = {
        "config": settings.source,
        "shops": len(settings.shops),
        "app_proxy_shops": sum(1 for shop in settings.shops.values() if shop.app_proxy_secret),
        "clients": len(settings.clients),
        "confidential_clients": confidential,
        "public_clients": len(settings.clients) - confidential,
        "keys": len(keyring.keys),
        "signing_kid": keyring.active.kid,
        "signing_alg": keyring.active.alg,
        "keys_from": KEYS_ENV
        if settings.signing_keys_pem is not None
        else str(settings.signing_key_dir),
    }
    if isinstance(settings.state, RedisURL):
        redis = settings.state
        host = f"[{redis.host}]" if ":" in redis.host else redis.host
        fields["state"] = "rediss" if redis.tls else "redis"
        fields["state_at"] = f"{host}:{redis.port}/{redis.db}"
    else:
        fields["state"] = "memory"
    database = settings.store.database
    if database is None:
        fields["database"] = "none"
    else:
        fields["database"] = database.dialect
        fields["database_at"] = str(database.sqlite_path or database.host or "-")
        fields["admin"] = "on" if settings.store.admin_enabled else "off"
    return fields


def log_startup(settings: Settings, keyring: keys.KeyRing) -> None:
    """One line at start-up saying what this process serves (see :func:`startup_summary`)."""
    log.info("configuration loaded", extra={"fields": startup_summary(settings, keyring)})


def startup_warnings(settings: Settings) -> list[str]:
    """What start-up logs and ``check-config`` prints: valid, but probably not meant."""
    warnings = config_warnings(settings)
    if settings.signing_keys_pem is None:
        warnings += keyfiles.permission_warnings(settings.signing_key_dir)
    return warnings


def build_state(
    settings: Settings,
    *,
    now: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
) -> State:
    """The state backend that ``settings.state`` names."""
    limits = settings.rate_limits
    if isinstance(settings.state, RedisURL):
        from service.state.redis import RedisState

        # Redis keeps its own clock (see service.state.redis); `now` is for memory.
        return RedisState.from_url(
            settings.state, limits.rates(), max_token_ttl=settings.max_token_ttl
        )
    return MemoryState(
        limits.rates(),
        max_entries=limits.max_entries,
        max_token_ttl=settings.max_token_ttl,
        now=now,
        monotonic=monotonic,
    )


def prepare_database(settings: Settings) -> None:
    """At start-up: development mode migrates; otherwise a schema behind the code is refused."""
    database = settings.store.database
    if database is None:
        return
    import asyncio

    from service.admin.services import config_clients_in_database
    from service.store.db import create_engine, prepare

    prepare(database, migrate=settings.development)

    async def overlap() -> list[str]:
        engine = create_engine(database)
        try:
            return await config_clients_in_database(settings, engine)
        finally:
            await engine.dispose()

    both = asyncio.run(overlap())
    if both:
        # A client lives in the config or in the database, never both.
        raise ConfigError(
            f'[clients."{both[0]}"] is in the config and was also added at runtime (in the '
            "database): remove it from one of them"
        )


def build_store(
    settings: Settings,
    *,
    now: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
) -> tuple[ApiTokenStore | None, AdminSessions | None]:
    """The API-token store and the dashboard sessions, on one engine (lazy connections)."""
    database = settings.store.database
    if database is None:
        return None, None
    from service.store.apitokens import ApiTokenStore
    from service.store.db import create_engine
    from service.store.sessions import AdminSessions

    engine = create_engine(database)
    tokens = ApiTokenStore(
        engine,
        issuer=settings.issuer,
        scopes=settings.store.api_scopes,
        now=now,
        monotonic=monotonic,
    )
    sessions = AdminSessions(engine, now=now) if settings.store.admin_enabled else None
    return tokens, sessions


#: The topic on which a process announces the id of each API token it revoked.
REVOKED_API_TOKENS = "api-tokens:revoked"


def announce_revocations(store: ApiTokenStore, state: State) -> Listener | None:
    """Connect the store's revocations to the state's announcements.

    Each revocation through ``store`` is announced; with a shared state (Redis),
    the returned listener evicts every token revoked elsewhere from ``store``'s
    cache as the announcement arrives, and bounds the cache's age to the same
    reach while it cannot hear them. Without one, the cache TTL is the bound.
    """
    if state.reach is None:
        return None
    reach = state.reach
    store.announce = functools.partial(state.announce, REVOKED_API_TOKENS)
    store.reach = reach
    store.cap(reach)  # until the listener has subscribed
    return state.listen(
        REVOKED_API_TOKENS,
        on_message=store.evict,
        on_down=lambda: store.cap(reach),
        on_up=lambda: store.cap(None),
    )


def build_components(
    settings: Settings,
    *,
    keyring: keys.KeyRing | None = None,
    state: State | None = None,
    now: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
    api_tokens: TokenLookup | None = None,
) -> Components:
    """Everything the endpoints use; a test may pass its own keyring, state and clocks."""
    source = key_source(settings) if keyring is None else None
    keyring = keyring or load_keyring(settings, now=now)
    state = state or build_state(settings, now=now, monotonic=monotonic)
    issuer = TokenIssuer(keyring, settings.issuer, now=now)
    verifier = TokenVerifier(keyring, settings.issuer, now=now)
    metrics = Metrics(shops=settings.shops)
    for name in state.tracked_keys():
        metrics.gauge(
            "shapestoken_ratelimit_tracked_keys",
            "Keys a rate limiter tracks in memory (with several workers, all of theirs).",
            {"limiter": name},
            _tracked(state, name),
        )
    metrics.register(*state.series())
    metrics.gauge(
        "shapestoken_signing_keys_published",
        "Keys in the JWKS.",
        {},
        lambda: len(keyring.published()),
        across_workers="livemax",  # every worker reads the same keys
    )
    token_store, admin_sessions = build_store(settings, now=now, monotonic=monotonic)
    background: list[Listener] = []
    if token_store is not None:
        listener = announce_revocations(token_store, state)
        if listener is not None:
            background.append(listener)
    # Introspection asks the database about `stk_` tokens (a test may pass its own lookup).
    api_tokens = api_tokens if api_tokens is not None else token_store
    oauth = OAuthServer(
        settings.clients,
        issuer_url=settings.issuer,
        issuer=issuer,
        verifier=verifier,
        state=state,
        lookups={API_TOKEN_PREFIX: api_tokens},
        now=now,
    )
    admin = None
    if token_store is not None:
        from service.admin.services import build_administration

        admin = build_administration(
            settings,
            token_store.engine,
            registry=oauth.registry,
            state=state,
            token_store=token_store,
            now=now,
        )
    return Components(
        settings=settings,
        keyring=keyring,
        issuer=issuer,
        verifier=verifier,
        state=state,
        customers=CustomerTokens(settings.shops, issuer, verifier, now=now),
        oauth=oauth,
        metrics=metrics,
        dpop=DPoP(keyring, settings.issuer, now=now),
        now=now,
        token_store=token_store,
        admin_sessions=admin_sessions,
        key_source=source,
        background=background,
        admin=admin,
    )


def warn_if_state_per_process(settings: Settings, environ: Mapping[str, str] = os.environ) -> None:
    """Warn when several worker processes each keep their own memory state.

    The worker count a process can see is ``WEB_CONCURRENCY``: what hosting
    platforms set, what the Procfile passes to Granian's ``--workers``, uvicorn's
    and gunicorn's default for theirs, and what ``shapestoken serve --workers N``
    passes to its workers.
    """
    count = workers(environ)
    if settings.state == "memory" and count > 1:
        per_customer = settings.rate_limits.per_customer
        log.warning(
            f'state = "memory" with {count} workers: limits and revocations are per '
            f"process (a customer may mint {count} x {per_customer}, and a revocation "
            'holds only in the worker that took it); set state = "redis://host:6379/0" '
            "to share them",
            extra={"fields": {"workers": count}},
        )


def _tracked(state: State, limiter: str) -> Callable[[], float]:
    return lambda: state.tracked_keys()[limiter]
