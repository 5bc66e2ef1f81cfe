from __future__ import annotations

import hashlib
import hmac
import re
import time
from datetime import datetime
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
    out = capsys.readouterr().out
    assert "ES256" in out and "it is the first key: it signs at once" in out
    assert main(["keys", "generate"]) == 2
    assert "keys rotate" in capsys.readouterr().err
    before = time.time()
    assert main(["keys", "rotate"]) == 0
    out = capsys.readouterr().out
    # Publish first, sign later: the new key signs key_activation_delay (900 s) after now.
    starts = re.search(r"published now; signs from (\S+) \(key_activation_delay = 900s\)", out)
    assert starts is not None, out
    signs_at = datetime.fromisoformat(starts[1].replace("Z", "+00:00")).timestamp()
    assert before + 899 <= signs_at <= time.time() + 901
    assert "no restart needed" in out and "stays published until" in out
    assert len(list((configured / "keys").glob("*.pem"))) == 2
    assert main(["keys", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(f"published, signs from {starts[1]}")
    assert lines[1].endswith("active (signs)")


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


def test_check_config_names_every_missing_variable_in_one_run(
    configured: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = configured / "shapestoken.toml"
    config.write_text(
        config.read_text().replace('issuer = "https://tokens.example.com"', 'issuer = "env:ISSUER"')
    )
    monkeypatch.delenv("SHOP_ID_SECRET")
    monkeypatch.delenv("ISSUER", raising=False)
    assert main(["check-config"]) == 2
    err = capsys.readouterr().err
    assert "2 environment variables are not set: ISSUER (for issuer); " in err
    assert 'SHOP_ID_SECRET (for shops."acme.myshopify.com".id_secrets[0])' in err


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


def test_check_config_warns_about_loose_key_files_and_reused_secrets(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = configured / "shapestoken.toml"
    config.write_text(
        config_toml(
            "https://tokens.example.com", extra_shop='app_proxy_secret = "env:SHOP_ID_SECRET"'
        )
    )
    main(["keys", "generate"])
    (key,) = (configured / "keys").glob("*.pem")
    key.chmod(0o644)
    (configured / "keys").chmod(0o755)
    capsys.readouterr()
    assert main(["check-config"]) == 0
    captured = capsys.readouterr()
    assert "config OK (3 warnings)" in captured.out
    warnings = captured.err.splitlines()
    assert len(warnings) == 3 and all(line.startswith("warning: ") for line in warnings)
    assert "app_proxy_secret" in warnings[0]
    assert "open to others (mode 0755)" in warnings[1]
    assert "(mode 0644)" in warnings[2]
    assert SECRET not in captured.err
