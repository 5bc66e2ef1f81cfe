"""Client authentication methods as a request presents them (RFC 6749 §2.3)."""

from __future__ import annotations

import base64
from urllib.parse import quote_plus

import pytest

from service.errors import InvalidRequest
from service.oauth.credentials import presented_credentials
from service.oauth.errors import BASIC_CHALLENGE, InvalidClient
from service.oauth.params import oauth_params
from tests.oauth_clients import basic

SPECIAL = "a:b+c/d%e&f=g h" + "x" * 32


def test_basic_form_encoded_is_decoded_first() -> None:
    presented = presented_credentials(basic("crm", SPECIAL, encode=True)["Authorization"], {})
    assert presented.method == "client_secret_basic" and presented.basic
    # Decoded first (RFC 6749 §2.3.1), then as sent (clients that skip the encoding).
    assert presented.candidates[0] == ("crm", SPECIAL.encode())
    assert presented.candidates[1] == ("crm", quote_plus(SPECIAL).encode())


def test_basic_as_sent_by_clients_that_skip_the_encoding() -> None:
    presented = presented_credentials(basic("crm", SPECIAL, encode=False)["Authorization"], {})
    # The first colon separates: a raw secret may contain more.
    assert ("crm", SPECIAL.encode()) in presented.candidates


def test_a_plain_secret_is_one_candidate() -> None:
    presented = presented_credentials(basic("crm", "s" * 40, encode=False)["Authorization"], {})
    assert presented.candidates == (("crm", b"s" * 40),)


def test_the_scheme_is_case_insensitive() -> None:
    header = basic("crm", "s" * 40, encode=False)["Authorization"].replace("Basic", "bAsIc")
    assert presented_credentials(header, {}).client_id == "crm"


def test_body_client_id_may_repeat_the_basic_one() -> None:
    # RFC 6749 §3.2.1: a client MAY send client_id with its Basic credentials.
    presented = presented_credentials(
        basic("crm", "s" * 40, encode=True)["Authorization"], {"client_id": "crm"}
    )
    assert presented.client_id == "crm"


def test_client_secret_post() -> None:
    presented = presented_credentials(None, {"client_id": "crm", "client_secret": "s" * 40})
    assert presented.method == "client_secret_post" and not presented.basic
    assert presented.candidates == (("crm", b"s" * 40),)


def test_public_client_id_alone() -> None:
    presented = presented_credentials(None, {"client_id": "web"})
    assert presented.method == "none" and presented.candidates == (("web", None),)


def test_repr_never_shows_the_secret() -> None:
    presented = presented_credentials(None, {"client_id": "crm", "client_secret": "s" * 40})
    assert "s" * 40 not in repr(presented)


@pytest.mark.parametrize(
    ("authorization", "params"),
    [
        (basic("crm", "s" * 40, encode=True)["Authorization"], {"client_secret": "s" * 40}),
        (basic("crm", "s" * 40, encode=True)["Authorization"], {"client_id": "other"}),
    ],
)
def test_two_methods_or_two_ids_are_invalid_requests(
    authorization: str, params: dict[str, str]
) -> None:
    with pytest.raises(InvalidRequest):
        presented_credentials(authorization, params)


@pytest.mark.parametrize(
    ("authorization", "params", "basic_sent"),
    [
        (None, {}, False),
        (None, {"client_secret": "s" * 40}, False),
        ("Bearer abc", {}, True),
        ("Basic", {}, True),
        ("Basic !!!!", {}, True),
        ("Basic " + base64.b64encode(b"no-colon").decode(), {}, True),
        ("Basic " + base64.b64encode(b":secret").decode(), {}, True),
        ("Basic " + base64.b64encode(b"crm:s").decode() + "@", {}, True),
    ],
)
def test_missing_or_malformed_credentials_are_invalid_client(
    authorization: str | None, params: dict[str, str], basic_sent: bool
) -> None:
    with pytest.raises(InvalidClient) as info:
        presented_credentials(authorization, params)
    assert info.value.status_code == 401
    challenge = info.value.headers.get("WWW-Authenticate")
    assert challenge == (BASIC_CHALLENGE if basic_sent else None)


def test_params_keep_known_strings_and_drop_empty_and_unknown() -> None:
    fields: dict[str, object] = {
        "grant_type": "client_credentials",
        "scope": "",  # RFC 6749 §3.1: sent without a value = omitted
        "username:x": "",
        "password:y": "",
        "extra": 42,  # an unknown JSON value of any type is ignored
    }
    assert oauth_params(fields) == {"grant_type": "client_credentials"}


@pytest.mark.parametrize("value", [1, None, True, ["a"], {"a": "b"}])
def test_known_params_must_be_strings(value: object) -> None:
    with pytest.raises(InvalidRequest, match="`scope` must be a string"):
        oauth_params({"scope": value})
