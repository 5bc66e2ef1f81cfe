"""The README's examples, as tests run them.

An example is a fenced code block right after an ``<!-- example: <name> -->`` line.
Tests take them from here instead of keeping copies, so an example that stops
working fails a test; ``tests/test_readme.py`` checks that each one is run.

Shell examples run as a merchant pastes them: in bash, with the installed
``shapestoken`` on the PATH and none of the tests' settings in the environment
(:func:`tool_env`, :func:`bash`); only the service's URL is replaced.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent.parent / "README.md"
#: The public base URL the README's examples use for the service.
SERVICE = "https://tokens.example.com"

_EXAMPLE = re.compile(
    r"^(?P<indent>[ \t]*)<!-- example: (?P<name>[a-z0-9-]+) -->\n"
    r"(?P=indent)```[a-z]*\n(?P<code>.*?)^(?P=indent)```$",
    re.MULTILINE | re.DOTALL,
)


@cache
def examples() -> dict[str, str]:
    """Every named example's code, dedented when it sits in a list item."""
    found: dict[str, str] = {}
    for match in _EXAMPLE.finditer(README.read_text(encoding="utf-8")):
        name, indent = match["name"], match["indent"]
        assert name not in found, f"two README examples are named {name!r}"
        lines = match["code"].splitlines()
        found[name] = "\n".join(line.removeprefix(indent) for line in lines) + "\n"
    return found


def example(name: str, *, service: str | None = None) -> str:
    """The README example ``name``, with the service's URL replaced by ``service``."""
    code = examples()[name]
    return code if service is None else code.replace(SERVICE, service)


def section(title: str) -> str:
    """The text of the README's ``## title`` section."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end]


def blocks(text: str) -> list[tuple[str, str]]:
    """Every fenced code block as (language, body)."""
    return re.findall(r"```(\w*)\n(.*?)```", text, re.DOTALL)


def tool_env(**extra: str) -> dict[str, str]:
    """The environment of a merchant's shell: no test settings, ``shapestoken`` on the PATH."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SHAPESTOKEN")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


def bash(
    script: str, *, cwd: Path | None = None, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in one bash session (so variables carry over); fail on any error."""
    result = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script], cwd=cwd, env=env or tool_env(),
        input=stdin, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result


def run_create(command: str, cwd: Path) -> tuple[str, str]:
    """Run a README `clients create` line; return its secret and its config lines."""
    result = bash(command, cwd=cwd)
    head, _, lines = result.stdout.partition("\n\n")
    secret = head.split("client_secret:", 1)[1].strip()
    return secret, lines


def json_documents(text: str) -> list[dict[str, Any]]:
    """The JSON objects curl printed back to back (it adds no newline)."""
    decoder, found, index = json.JSONDecoder(), [], 0
    while (index := text.find("{", index)) != -1:
        value, index = decoder.raw_decode(text, index)
        found.append(value)
    return found
