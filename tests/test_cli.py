from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from service.cli import main
from tests.conftest import SECRET
from tests.servers import config_toml


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "shapestoken.toml"
    config.write_text(config_toml("https://tokens.example.com"))
    monkeypatch.setenv("SHAPESTOKEN_CONFIG", str(config))
    monkeypatch.setenv("SHOP_ID_SECRET", SECRET)
    monkeypatch.delenv("SHAPESTOKEN_SIGNING_KEYS", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def hex_hmac(message: str, key: str = SECRET) -> str:
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


def test_keys_generate_rotate_list(configured: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "generate"]) == 0
    assert "ES256" in capsys.readouterr().out
    assert main(["keys", "generate"]) == 2
    assert "keys rotate" in capsys.readouterr().err
    assert main(["keys", "rotate"]) == 0
    out = capsys.readouterr().out
    assert "active" in out and "stays in the JWKS until" in out
    assert len(list((configured / "keys").glob("*.pem"))) == 2
    assert main(["keys", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("active") and "published until" in lines[1]


def test_keys_generate_print(configured: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "generate", "--print"]) == 0
    assert capsys.readouterr().out.startswith("-----BEGIN PRIVATE KEY-----")
    assert not (configured / "keys").exists()


def test_sign_prints_what_the_theme_renders(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sign", "--shop", "acme.myshopify.com", "42"]) == 0
    assert capsys.readouterr().out.strip() == hex_hmac("42")
    assert main(["sign", "--shop", "acme.myshopify.com", "--ts", "1800000000", "42"]) == 0
    out = capsys.readouterr().out.strip()
    assert out == f"ts=1800000000 signature={hex_hmac('42:1800000000')}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sign", "--shop", "other.myshopify.com", "42"], "not configured"),
        (["sign", "--shop", "acme.myshopify.com", "042"], "customer ID"),
        (["sign", "--shop", "acme.myshopify.com", "--ts", "soon", "42"], "--ts"),
    ],
)
def test_sign_errors(
    configured: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_sign_refuses_an_app_proxy_only_shop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "shapestoken.toml"
    config.write_text(
        config_toml("https://tokens.example.com").replace(
            'id_secrets = ["env:SHOP_ID_SECRET"]', 'app_proxy_secret = "env:SHOP_ID_SECRET"'
        )
    )
    monkeypatch.setenv("SHAPESTOKEN_CONFIG", str(config))
    monkeypatch.setenv("SHOP_ID_SECRET", SECRET)
    assert main(["sign", "--shop", "acme.myshopify.com", "42"]) == 2
    assert "App Proxy requests only" in capsys.readouterr().err


def test_check_config_prints_a_redacted_summary(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-config"]) == 2  # no key yet
    assert "keys generate" in capsys.readouterr().err
    main(["keys", "generate"])
    capsys.readouterr()
    assert main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "acme.myshopify.com" in out and "config OK" in out and "**********" in out
    assert SECRET not in out


def test_check_config_reports_errors(
    configured: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SHOP_ID_SECRET")
    assert main(["check-config"]) == 2
    assert "SHOP_ID_SECRET is not set" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["check-config"],
        ["keys", "list"],
        ["keys", "generate"],
        ["keys", "generate", "--print"],
        ["keys", "rotate"],
        ["sign", "--shop", "demo.myshopify.com", "1001"],
        ["customers", "block", "demo.myshopify.com", "1001"],
        ["customers", "unblock", "demo.myshopify.com", "1001"],
        ["customers", "list"],
        ["tokens", "create", "--name", "crm", "--scope", "profiles:read"],
        ["tokens", "list"],
        ["tokens", "revoke", "abcdefghjkmn"],
        ["db", "upgrade"],
    ],
)
def test_commands_refuse_to_run_without_a_config_and_write_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
) -> None:
    # A CI check with a missing SHAPESTOKEN_CONFIG must fail, not pass on a made-up default.
    monkeypatch.delenv("SHAPESTOKEN_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "no config found" in captured.err
    assert captured.out == ""
    assert list(tmp_path.iterdir()) == []


def test_development_mode_refuses_a_public_bind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SHAPESTOKEN_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert "loopback" in capsys.readouterr().err
