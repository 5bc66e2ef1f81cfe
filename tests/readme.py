"""The README's examples, as tests run them.

An example is a fenced code block right after an ``<!-- example: <name> -->`` line.
Tests take them from here instead of keeping copies, so an example that stops
working fails a test; ``tests/test_readme.py`` checks that each one is run.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

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
