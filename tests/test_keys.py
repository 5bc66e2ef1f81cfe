from __future__ import annotations

import base64
import hashlib
import json
import stat
from pathlib import Path

import pytest

from service import keys
from service.errors import ConfigError
from service.secret import Secret
from service.services import load_keyring
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
    key = keys.write_new_key(tmp_path / "keys", "ES256", now=1_800_000_000)
    path = tmp_path / "keys" / key.name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert key.name.startswith("20270115T080000Z-")
    (loaded,) = keys.load_dir(tmp_path / "keys")
    assert loaded.kid == key.kid and loaded.created == 1_800_000_000


def test_rotation_keeps_the_old_key_published_for_the_window(tmp_path: Path) -> None:
    clock = Clock()
    directory = tmp_path / "keys"
    first = keys.write_new_key(directory, "ES256", now=clock() - 10)
    second = keys.write_new_key(directory, "ES256", now=clock())
    ring = keys.KeyRing(keys.load_dir(directory), window=1000, now=clock)
    assert ring.active.kid == second.kid
    assert [k["kid"] for k in ring.jwks()["keys"]] == [second.kid, first.kid]
    clock.advance(999)
    assert ring.find(first.kid) is not None
    clock.advance(1)
    assert ring.find(first.kid) is None
    assert [k["kid"] for k in ring.jwks()["keys"]] == [second.kid]
    states = [state for _, state in ring.status()]
    assert states[0] == "active" and states[1].startswith("expired")


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


def test_active_key_must_match_signing_alg(tmp_path: Path) -> None:
    keys.write_new_key(tmp_path / "keys", "EdDSA")
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
