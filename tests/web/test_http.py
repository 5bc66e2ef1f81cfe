"""The HTTP edge's response encoder: orjson, byte for byte what the standard library writes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.web.http import JSON


@pytest.mark.parametrize(
    "content",
    [
        {"access_token": "a.b.c", "expires_in": 900, "identifier": "customer"},
        {"error": "x", "error_description": 'quote " backslash \\ newline \n tab \t é ☃ \u2028'},
        {"keys": [{"kty": "EC", "crv": "P-256"}], "nested": [None, True, False, -1, 2**63 - 1]},
        {"big": 2**64, "float": 1.5},
        {1: "non-str key"},
    ],
)
def test_json_response_bytes_are_the_standard_librarys(content: Any) -> None:
    expected = json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert JSON(content).body == expected
