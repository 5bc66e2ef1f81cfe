"""``shapestoken clients create|hash-secret``."""

from __future__ import annotations

import base64
import hashlib
import io
import tomllib

import pytest

from service.cli import main
from service.config import parse_settings
from service.oauth.credentials import presented_credentials
from service.oauth.registry import ClientRegistry
from tests.conftest import SECRET


@pytest.fixture(autouse=True)
def no_config(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    # Neither command reads a config: they work before there is one.
    monkeypatch.delenv("SHAPESTOKEN_CONFIG", raising=False)
    monkeypatch.chdir(str(tmp_path))


def create(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[str, str, str]:
    """Run `clients create`; return the secret, the TOML lines and stderr."""
    assert main(["clients", "create", *args]) == 0
    captured = capsys.readouterr()
    head, _, toml_text = captured.out.partition("\n\n")
    lines = dict(line.split(":", 1) for line in head.splitlines())
    assert lines["client_id"].strip() == args[0]
    return lines["client_secret"].strip(), toml_text, captured.err


def test_create_prints_a_256_bit_secret_and_lines_that_load(
    capsys: pytest.CaptureFixture[str],
) -> None:
    secret, toml_text, err = create(capsys, "crm-sync", "--scope", "profiles:read")
    assert len(base64.urlsafe_b64decode(secret + "=")) == 32
    assert "shown only this once" in err
    raw = {
        "issuer": "https://tokens.example.com",
        "shops": {"acme.myshopify.com": {"id_secrets": [SECRET]}},
        **tomllib.loads(toml_text),
    }
    settings = parse_settings(raw, environ={})
    client = settings.clients["crm-sync"]
    assert client.confidential and client.scopes == ("profiles:read",)
    # The printed secret authenticates against the printed hash, and only its hash is kept.
    registry = ClientRegistry(settings.clients)
    presented = presented_credentials(None, {"client_id": "crm-sync", "client_secret": secret})
    assert registry.authenticate(presented) is client
    assert secret not in toml_text
    assert client.secret_hashes == (hashlib.sha256(secret.encode()).digest(),)


def test_create_with_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    _, toml_text, _ = create(
        capsys,
        "api-gateway",
        "--scope",
        "a",
        "--scope",
        "b",
        "--audience",
        'https://api.acme.example/"quoted"',
        "--token-ttl",
        "600",
        "--introspect",
    )
    table = tomllib.loads(toml_text)["clients"]["api-gateway"]
    assert table["scopes"] == ["a", "b"]
    assert table["audiences"] == ['https://api.acme.example/"quoted"']
    assert table["token_ttl"] == 600 and table["introspect"] is True


def test_every_secret_is_new(capsys: pytest.CaptureFixture[str]) -> None:
    first, _, _ = create(capsys, "crm-sync", "--scope", "x")
    second, _, _ = create(capsys, "crm-sync", "--scope", "x")
    assert first != second


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ab", "--scope", "x"], "a client id is 3 to 64"),
        (["acme.myshopify.com", "--scope", "x"], "named like a shop"),
        (["crm", "--scope", "a b"], "scopes[0]"),
        (["crm", "--scope", "*"], "scopes[0]"),
        (["crm", "--scope", "x", "--token-ttl", "10"], "token_ttl"),
        (["crm", "--scope", "x", "--audience", "a b"], "audiences[0]"),
    ],
)
def test_create_refuses_bad_input_and_prints_no_secret(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["clients", "create", *args]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""


def test_create_needs_a_scope(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["clients", "create", "crm-sync"])
    assert info.value.code == 2
    assert "--scope" in capsys.readouterr().err


def hash_secret(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, stdin: bytes
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    code = main(["clients", "hash-secret"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("stdin", "secret"),
    [
        (b"a:b+c/d%e&f=g" + b"s" * 32 + b"\n", b"a:b+c/d%e&f=g" + b"s" * 32),
        (b"x" * 40 + b"\r\n", b"x" * 40),
        (b"y" * 32, b"y" * 32),
        (b" spaced secret kept exactly as given \n", b" spaced secret kept exactly as given "),
    ],
)
def test_hash_secret(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, stdin: bytes, secret: bytes
) -> None:
    code, out, _ = hash_secret(capsys, monkeypatch, stdin)
    assert code == 0
    assert out == f"sha256:{hashlib.sha256(secret).hexdigest()}\n"


@pytest.mark.parametrize("stdin", [b"", b"\n", b"short\n", b"x" * 31 + b"\n"])
def test_hash_secret_refuses_short_secrets(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, stdin: bytes
) -> None:
    code, out, err = hash_secret(capsys, monkeypatch, stdin)
    assert code == 2 and out == ""
    assert "at least 32 are required" in err
