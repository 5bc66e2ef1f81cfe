"""The examples of README.md and of the docs site (docs/**/*.md), as tests run them.

An example is a fenced code block right after an ``<!-- example: <name> -->`` line;
names are unique across every page. Tests take them from here instead of keeping
copies, so an example that stops working fails a test; ``tests/docs/test_examples.py`` checks
that each one is run.

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

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
#: The public base URL the examples use for the service.
SERVICE = "https://tokens.example.com"

_EXAMPLE = re.compile(
    r"^(?P<indent>[ \t]*)<!-- example: (?P<name>[a-z0-9-]+) -->\n"
    r"(?P=indent)```[a-z]*\n(?P<code>.*?)^(?P=indent)```$",
    re.MULTILINE | re.DOTALL,
)
_FENCE = re.compile(r"^[ \t]*```")
_HEADING = re.compile(r"^(#{1,6}) (.+?)\s*$")


def pages() -> list[Path]:
    """README.md, then every page of the docs site."""
    return [README, *sorted(DOCS.rglob("*.md"))]


def page(name: str) -> str:
    """The text of ``README.md`` or of a docs page named from docs/ (``guides/theme.md``)."""
    path = README if name == "README.md" else DOCS / name
    return path.read_text(encoding="utf-8")


def _name(path: Path) -> str:
    return "README.md" if path == README else path.relative_to(DOCS).as_posix()


@cache
def examples() -> dict[str, str]:
    """Every named example's code, dedented when it sits in a list item."""
    found: dict[str, str] = {}
    where: dict[str, str] = {}
    for path in pages():
        for match in _EXAMPLE.finditer(path.read_text(encoding="utf-8")):
            name, indent = match["name"], match["indent"]
            assert name not in found, f"two examples are named {name!r}: {where[name]}, {path}"
            lines = match["code"].splitlines()
            found[name] = "\n".join(line.removeprefix(indent) for line in lines) + "\n"
            where[name] = _name(path)
    return found


def example(name: str, *, service: str | None = None) -> str:
    """The example ``name``, with the service's URL replaced by ``service``."""
    code = examples()[name]
    return code if service is None else code.replace(SERVICE, service)


def _sections(text: str, title: str) -> list[str]:
    """Each part of ``text`` under a heading ``title``, up to the next heading of its level
    or a higher one (lines inside code blocks are never headings)."""
    lines = text.splitlines(keepends=True)
    found, start, level, fenced = [], -1, 0, False
    for number, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
        heading = None if fenced else _HEADING.match(line)
        if heading is None:
            continue
        depth = len(heading[1])
        if start >= 0 and depth <= level:
            found.append("".join(lines[start:number]))
            start = -1
        if start < 0 and heading[2] == title:
            start, level = number, depth
    if start >= 0:
        found.append("".join(lines[start:]))
    return found


def section(title: str, in_page: str | None = None) -> str:
    """The text under the heading ``title`` (any level), in ``in_page`` (a docs page such
    as ``guides/backends.md``, or ``README.md``), else in the one page that has it."""
    paths = pages() if in_page is None else [README if in_page == "README.md" else DOCS / in_page]
    found = [part for path in paths for part in _sections(path.read_text("utf-8"), title)]
    assert len(found) == 1, f"{len(found)} sections titled {title!r}"
    return found[0]


def blocks(text: str) -> list[tuple[str, str]]:
    """Every fenced code block as (language, body)."""
    return re.findall(r"```(\w*)\n(.*?)```", text, re.DOTALL)


_MARKER = re.compile(r"^[ \t]*<!-- example: (?P<name>[a-z0-9-]+) -->$")


def code_blocks(text: str) -> list[tuple[int, str, str | None]]:
    """Every fenced code block of a page: the number of its opening line, its language
    (``""`` for none) and the name of the example it is, if a marker line precedes it."""
    lines, found, fenced = text.splitlines(), [], False
    for number, line in enumerate(lines, start=1):
        if not _FENCE.match(line):
            continue
        fenced = not fenced
        if fenced:
            marker = _MARKER.match(lines[number - 2]) if number > 1 else None
            language = line.strip().removeprefix("```").strip()
            found.append((number, language, marker["name"] if marker else None))
    return found


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
    """Run a `clients create` line of the docs; return its secret and its config lines."""
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
