"""The client registry: secrets by SHA-256 in constant time, public clients, rotation."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.config import ClientConfig
from service.oauth.credentials import Presented
from service.oauth.errors import InvalidClient
from service.oauth.registry import ClientRegistry, hash_secret

SECRET = "k" * 43
PREVIOUS = "p" * 43


def digest(secret: str | bytes) -> bytes:
    return hashlib.sha256(secret.encode() if isinstance(secret, str) else secret).digest()


def make_client(client_id: str = "crm-sync", **overrides: Any) -> ClientConfig:
    values: dict[str, Any] = {
        "client_id": client_id,
        "secret_hashes": (digest(SECRET), digest(PREVIOUS)),
        "scopes": ("profiles:read", "profiles:write"),
        "audiences": ("https://api.acme.example",),
        "grant_types": frozenset({"client_credentials"}),
    }
    values.update(overrides)
    return ClientConfig(**values)


def public_client(client_id: str = "web") -> ClientConfig:
    return make_client(
        client_id,
        secret_hashes=(),
        grant_types=frozenset({"implicit"}),
        allowed_origins=frozenset({"https://www.acme.com"}),
    )


@pytest.fixture
def registry() -> ClientRegistry:
    return ClientRegistry({"crm-sync": make_client(), "web": public_client()})


def post(client_id: str, secret: str | bytes) -> Presented:
    raw = secret.encode() if isinstance(secret, str) else secret
    return Presented("client_secret_post", ((client_id, raw),))


def test_hash_secret_is_the_config_form() -> None:
    assert hash_secret(b"abc") == "sha256:" + hashlib.sha256(b"abc").hexdigest()


def test_every_listed_secret_authenticates(registry: ClientRegistry) -> None:
    # Several hashes = rotation: the old secret works until its hash is removed.
    assert registry.authenticate(post("crm-sync", SECRET)).client_id == "crm-sync"
    assert registry.authenticate(post("crm-sync", PREVIOUS)).client_id == "crm-sync"


def test_a_removed_secret_no_longer_authenticates() -> None:
    registry = ClientRegistry({"crm-sync": make_client(secret_hashes=(digest(SECRET),))})
    with pytest.raises(InvalidClient):
        registry.authenticate(post("crm-sync", PREVIOUS))


@given(secret=st.binary(min_size=1, max_size=96))
def test_any_other_secret_is_refused(secret: bytes) -> None:
    registry = ClientRegistry({"crm-sync": make_client()})
    if secret in (SECRET.encode(), PREVIOUS.encode()):
        return
    with pytest.raises(InvalidClient):
        registry.authenticate(post("crm-sync", secret))


@given(data=st.data())
def test_any_altered_secret_is_refused(data: st.DataObject) -> None:
    registry = ClientRegistry({"crm-sync": make_client()})
    raw = bytearray(SECRET.encode())
    edit = data.draw(st.sampled_from(["change", "drop", "add"]))
    index = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    if edit == "change":
        raw[index] ^= data.draw(st.integers(min_value=1, max_value=255))
    elif edit == "drop":
        del raw[index]
    else:
        raw.insert(index, data.draw(st.integers(min_value=0, max_value=255)))
    with pytest.raises(InvalidClient):
        registry.authenticate(post("crm-sync", bytes(raw)))


def test_unknown_client_and_wrong_secret_read_the_same(registry: ClientRegistry) -> None:
    with pytest.raises(InvalidClient) as unknown:
        registry.authenticate(post("nobody", SECRET))
    with pytest.raises(InvalidClient) as wrong:
        registry.authenticate(post("crm-sync", "wrong" * 9))
    assert unknown.value.description == wrong.value.description


def test_an_unknown_client_costs_the_same_comparisons(
    registry: ClientRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    compare = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(len(b))
        return compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    counts = []
    for client_id, secret in (("crm-sync", SECRET), ("crm-sync", "x" * 43), ("nobody", SECRET)):
        calls.clear()
        try:
            registry.authenticate(post(client_id, secret))
        except InvalidClient:
            pass
        counts.append(list(calls))
    # Same number of 32-byte comparisons whether the client exists and the secret matches.
    assert counts[0] == counts[1] == counts[2] == [32, 32]


def refusal(registry: ClientRegistry, presented: Presented, **options: bool) -> str:
    """The description of the InvalidClient that ``presented`` gets."""
    with pytest.raises(InvalidClient) as info:
        registry.authenticate(presented, **options)
    return info.value.description


def test_a_public_client_authenticates_by_id_alone(registry: ClientRegistry) -> None:
    presented = Presented("none", (("web", None),))
    assert registry.authenticate(presented).client_id == "web"
    # Where a confidential client is needed it is refused like an unknown id.
    unknown = refusal(registry, Presented("none", (("nobody", None),)))
    assert refusal(registry, presented, confidential=True) == unknown


def test_a_confidential_client_needs_its_secret(registry: ClientRegistry) -> None:
    # Refused exactly as an unknown id is: the answer does not tell that it exists.
    confidential = refusal(registry, Presented("none", (("crm-sync", None),)))
    assert confidential == refusal(registry, Presented("none", (("nobody", None),)))
    assert confidential == InvalidClient.description


def test_an_unknown_public_id_is_refused(registry: ClientRegistry) -> None:
    with pytest.raises(InvalidClient):
        registry.authenticate(Presented("none", (("nobody", None),)))


def test_a_secret_for_a_public_client_is_refused(registry: ClientRegistry) -> None:
    presented = Presented("client_secret_basic", (("web", b"anything" * 5),))
    with pytest.raises(InvalidClient) as info:
        registry.authenticate(presented)
    assert info.value.headers["WWW-Authenticate"] == 'Basic realm="shapestoken"'
    # Nothing says that the id is a public client's.
    unknown = Presented("client_secret_basic", (("nobody", b"anything" * 5),))
    assert info.value.description == refusal(registry, unknown)


def test_a_secret_for_a_public_client_costs_the_same_comparisons(
    registry: ClientRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    compare = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(len(b))
        return compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    for client_id in ("web", "nobody"):
        with pytest.raises(InvalidClient):
            registry.authenticate(post(client_id, SECRET))
    assert calls == [32, 32] * 2


def test_basic_falls_back_to_the_pair_as_sent(registry: ClientRegistry) -> None:
    # The first candidate (decoded) fails; the second (as sent) is the real secret.
    presented = Presented(
        "client_secret_basic", (("crm-sync", b"decoded" * 6), ("crm-sync", SECRET.encode()))
    )
    assert registry.authenticate(presented).client_id == "crm-sync"


def test_public_origins_and_scopes() -> None:
    registry = ClientRegistry(
        {"crm-sync": make_client(), "web": public_client(), "empty": public_client("empty")}
    )
    assert registry.public_origins() == {"https://www.acme.com"}
    assert registry.scopes() == ["profiles:read", "profiles:write"]


def test_an_empty_registry_refuses_everyone() -> None:
    with pytest.raises(InvalidClient):
        ClientRegistry({}).authenticate(post("crm-sync", SECRET))
