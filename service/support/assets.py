"""Where the browser script and Liquid snippet are, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent


def asset_dir(name: str) -> Path:
    """``static/js`` or ``liquid_snippets``: inside the wheel, else the checkout's top level."""
    installed = _PACKAGE / "_assets" / name
    return installed if installed.is_dir() else _PACKAGE.parent / name
