from __future__ import annotations

import base64
import hashlib
import json
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.errors import ConfigError
from service.signing import keyfiles, keys
from service.support.secret import Secret
from service.wiring import load_keyring
from tests.conftest import Clock, make_settings


def test_rfc_7638_thumbprint_example() -> None:
    # RFC 7638 §3.1's worked example.
    jwk = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSo"
            "c_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YG"
            "jQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt"
            "-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDK"
            "gw"
        ),
        "e": "AQAB",
    }
    assert keys.thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
def test_kid_is_the_thumbprint_of_the_published_key(alg: str) -> None:
    key = keys.generate(alg)
    jwk = key.jwk()
    members = {"EC": ["crv", "kty", "x", "y"], "RSA": ["e", "kty", "n"], "OKP": ["crv", "kty", "x"]}
    canonical = json.dumps({m: jwk[m] for m in members[jwk["kty"]]}, separators=(",", ":"))
    expected = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=")
    assert jwk["kid"] == key.kid == expected.decode()
    assert jwk["alg"] == alg and jwk["use"] == "sig"


def test_key_files_are_private_and_never_overwritten(tmp_path: Path) -> None:
    key = keyfiles.write_new_key(tmp_path / "keys", "ES256", now=1_800_000_000)
    path = tmp_path / "keys" / key.name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert key.name.startswith("20270115T080000Z-")
    (loaded,) = keyfiles.load_dir(tmp_path / "keys")
    assert loaded.kid == key.kid and loaded.created == 1_800_000_000


def test_rotation_keeps_the_old_key_published_for_the_window(tmp_path: Path) -> None:
    clock = Clock()
    directory = tmp_path / "keys"
    first = keyfiles.write_new_key(directory, "ES256", now=clock() - 10)
    second = keyfiles.write_new_key(directory, "ES256", now=clock())
    ring = keys.KeyRing(keyfiles.load_dir(directory), window=1000, now=clock)
    assert ring.active.kid == second.kid
    assert [k["kid"] for k in ring.jwks()["keys"]] == [second.kid, first.kid]
    clock.advance(999)
    assert ring.find(first.kid) is not None
    clock.advance(1)
    assert ring.find(first.kid) is None
    assert [k["kid"] for k in ring.jwks()["keys"]] == [second.kid]
    states = [state for _, state in ring.status()]
    assert states[0] == "active (signs)" and states[1].startswith("expired")


def test_publish_window_covers_the_longest_ttl() -> None:
    assert keys.publish_window(3600) >= 3600


def test_bundle_from_the_environment(tmp_path: Path) -> None:
    a, b = keys.generate("ES256"), keys.generate("EdDSA")
    bundle = (a.pem() + b"\n" + b.pem()).decode()
    loaded = keys.load_bundle(bundle)
    assert [k.kid for k in loaded] == [a.kid, b.kid]
    settings = make_settings(signing_keys_pem=Secret(bundle))
    ring = load_keyring(settings)
    assert ring.active.kid == a.kid
    assert {k.kid for k in ring.published()} == {a.kid, b.kid}


def test_no_key_is_a_start_up_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no signing key.*keys generate"):
        load_keyring(make_settings(tmp_path))


def test_a_bundle_without_a_pem_block_says_how_to_make_one() -> None:
    # `keys generate` alone writes a file, which the variable would hide.
    cut = keys.generate("ES256").pem().decode().rpartition("-----END")[0]
    settings = make_settings(signing_keys_pem=Secret(cut))
    with pytest.raises(ConfigError, match="SHAPESTOKEN_SIGNING_KEYS.*keys generate --print"):
        load_keyring(settings)


def test_active_key_must_match_signing_alg(tmp_path: Path) -> None:
    keyfiles.write_new_key(tmp_path / "keys", "EdDSA")
    with pytest.raises(ConfigError, match="keys rotate"):
        load_keyring(make_settings(tmp_path, signing_alg="ES256"))
    assert load_keyring(make_settings(tmp_path, signing_alg="EdDSA")).active.alg == "EdDSA"


def test_a_garbage_key_file_is_a_start_up_error(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "broken.pem").write_text("not a key")
    with pytest.raises(ConfigError, match="broken.pem"):
        load_keyring(make_settings(tmp_path))


def test_the_same_key_twice_is_refused() -> None:
    key = keys.generate("ES256")
    with pytest.raises(ConfigError, match="twice"):
        keys.KeyRing([key, key], window=10)


def test_key_repr_hides_the_private_key() -> None:
    key = keys.generate("ES256")
    assert "PRIVATE" not in repr(key) and key.kid in repr(key)


def ring_of(*created: float, clock: Clock, delay: int = 900, window: int = 1000) -> keys.KeyRing:
    """A keyring of ES256 keys created at ``created`` (any order), newest first."""
    made = [keys.generate("ES256", created=at) for at in sorted(created, reverse=True)]
    return keys.KeyRing(made, window=window, activation_delay=delay, now=clock)


def test_the_first_key_signs_at_once() -> None:
    clock = Clock()
    ring = ring_of(clock(), clock=clock)
    assert ring.starts(ring.active) is None
    assert [key.kid for key in ring.published()] == [ring.active.kid]


def test_a_rotated_in_key_is_published_at_once_and_signs_after_the_delay() -> None:
    # The rolling-restart bug: a new key that signs at once makes tokens that replicas
    # (and APIs with a cached JWKS) not yet publishing it refuse.
    clock = Clock()
    ring = ring_of(clock() - 86400, clock(), clock=clock, delay=900)
    old, new = ring.keys[1], ring.keys[0]
    assert ring.active is old
    assert {key.kid for key in ring.published()} == {old.kid, new.kid}
    assert ring.starts(new) == clock() + 900
    states = dict((key.kid, state) for key, state in ring.status())
    assert states[new.kid].startswith("published, signs from ")
    assert states[old.kid] == "active (signs)"
    clock.advance(899)
    assert ring.active is old
    clock.advance(1)
    assert ring.active is new
    # The old key now retires: published for the window, then gone.
    clock.advance(999)
    assert ring.find(old.kid) is old
    clock.advance(1)
    assert ring.find(old.kid) is None and ring.published() == [new]


@given(
    ages=st.lists(st.integers(0, 10 * 86400), min_size=1, max_size=5, unique=True),
    delay=st.integers(0, 86400),
    window=st.integers(60, 3900),
    later=st.integers(0, 3 * 86400),
)
def test_the_signing_key_is_always_published_and_never_pending(
    ages: list[int], delay: int, window: int, later: int
) -> None:
    clock = Clock()
    ring = ring_of(*(clock() - age for age in ages), clock=clock, delay=delay, window=window)
    clock.advance(later)
    active = ring.active
    assert active in ring.published()
    starts = ring.starts(active)
    assert starts is None or starts <= clock()
    # Every newer key than the signing one is published and not yet due.
    for key in ring.keys[: ring.keys.index(active)]:
        assert key in ring.published()
        due = ring.starts(key)
        assert due is not None and due > clock()


def test_the_environment_bundle_keeps_its_order() -> None:
    # No creation times: the first block signs, the others stay published.
    a, b = keys.generate("ES256"), keys.generate("ES256")
    ring = keys.KeyRing([a, b], window=10, activation_delay=900, now=Clock())
    assert ring.active is a and ring.published() == [a, b]


def test_replace_swaps_the_keys_or_keeps_them() -> None:
    clock = Clock()
    first = keys.generate("ES256", created=clock() - 10)
    ring = keys.KeyRing([first], window=100, activation_delay=60, now=clock)
    second = keys.generate("ES256", created=clock())
    ring.replace([second, first])
    assert ring.active is first and second in ring.published()
    with pytest.raises(ConfigError):
        ring.replace([])
    with pytest.raises(ConfigError):
        ring.replace([second, second])
    assert ring.keys == [second, first]


def test_keys_made_in_the_same_second_keep_their_order(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    made = [keyfiles.write_new_key(directory, "ES256", now=1_800_000_000.5) for _ in range(3)]
    loaded = keyfiles.load_dir(directory)
    assert [key.kid for key in loaded] == [key.kid for key in reversed(made)]
    assert [key.created for key in loaded] == [1_800_000_002, 1_800_000_001, 1_800_000_000]


def test_loose_key_permissions_are_reported(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    key = keyfiles.write_new_key(directory, "ES256")
    assert keyfiles.permission_warnings(directory) == []
    (directory / key.name).chmod(0o644)
    directory.chmod(0o755)
    warnings = keyfiles.permission_warnings(directory)
    assert len(warnings) == 2
    assert "open to others (mode 0755)" in warnings[0] and "chmod 700" in warnings[0]
    assert "(mode 0644)" in warnings[1] and f"chmod 600 {directory / key.name}" in warnings[1]
    (directory / key.name).chmod(0o640)  # group-readable is too loose as well
    directory.chmod(0o750)
    assert len(keyfiles.permission_warnings(directory)) == 1
