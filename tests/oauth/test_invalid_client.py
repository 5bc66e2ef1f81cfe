"""One ``invalid_client`` answer for every cause, at every endpoint that authenticates clients.

RFC 6749 §5.2 names one error for every failed client authentication. Were the
answers to differ (a confidential client's id sent alone told to send its
secret, an unknown id told something else), anyone could enumerate client ids
and tell confidential ones from public ones. The only difference allowed is the
one §5.2 asks for: ``WWW-Authenticate`` when the client sent HTTP Basic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import ClientFactory
from tests.oauth_clients import CLIENTS, CRM, CRM_SECRET, GATEWAY, GATEWAY_SECRET, WEB, basic

WRONG = "wrong-" + "x" * 40
UNKNOWN = "nobody"

#: Every cause sent in the body, by name.
BODY_CAUSES: dict[str, dict[str, str]] = {
    "unknown client": {"client_id": UNKNOWN, "client_secret": CRM_SECRET},
    "unknown client, id alone": {"client_id": UNKNOWN},
    "wrong secret": {"client_id": CRM, "client_secret": WRONG},
    "another client's secret": {"client_id": CRM, "client_secret": GATEWAY_SECRET},
    "missing secret: a confidential client's id alone": {"client_id": CRM},
    "an introspecting client's id alone": {"client_id": GATEWAY},
    "empty secret": {"client_id": CRM, "client_secret": ""},
    "a secret for a public client": {"client_id": WEB, "client_secret": WRONG},
    "a secret without a client id": {"client_secret": CRM_SECRET},
    "no client at all": {},
}

#: Every cause sent with the Authorization header, by name.
BASIC_CAUSES: dict[str, dict[str, str]] = {
    "unknown client": basic(UNKNOWN, CRM_SECRET),
    "wrong secret": basic(CRM, WRONG),
    "another client's secret": basic(CRM, GATEWAY_SECRET),
    "missing secret": basic(CRM, ""),
    "a secret for a public client": basic(WEB, WRONG),
    "not base64": {"Authorization": "Basic !!!"},
    "no colon": {"Authorization": "Basic Y3JtLXN5bmM="},
    "another scheme": {"Authorization": "Bearer abc.def.ghi"},
}

#: Each endpoint with the parameters a request needs besides the client's.
ENDPOINTS: dict[str, dict[str, str]] = {
    "/oauth/token": {"grant_type": "client_credentials"},
    "/oauth/introspect": {"token": "x"},
    "/oauth/revoke": {"token": "x"},
}


@pytest.fixture
def client(client_factory: ClientFactory) -> TestClient:
    return client_factory(clients=CLIENTS)


def answer(response: Any) -> tuple[int, bytes, list[tuple[str, str]]]:
    """Status, body and headers, all but the request's own id."""
    headers = sorted(
        (name.lower(), value)
        for name, value in response.headers.items()
        if name.lower() != "x-request-id"
    )
    return response.status_code, response.content, headers


def send(
    client: TestClient, path: str, data: Mapping[str, str], headers: Mapping[str, str]
) -> tuple[int, bytes, list[tuple[str, str]]]:
    response = client.post(path, data={**ENDPOINTS[path], **data}, headers=dict(headers))
    assert response.status_code == 401, (path, response.text)
    assert response.json()["error"] == "invalid_client"
    return answer(response)


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_every_cause_in_the_body_gets_the_same_answer(client: TestClient, path: str) -> None:
    answers = {cause: send(client, path, data, {}) for cause, data in BODY_CAUSES.items()}
    reference = answers["unknown client"]
    for cause, got in answers.items():
        assert got == reference, cause
    # No challenge: the client did not use the Authorization header (RFC 6749 §5.2).
    assert "www-authenticate" not in dict(reference[2])


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_every_cause_with_basic_gets_the_same_answer_and_the_challenge(
    client: TestClient, path: str
) -> None:
    answers = {cause: send(client, path, {}, headers) for cause, headers in BASIC_CAUSES.items()}
    reference = answers["unknown client"]
    for cause, got in answers.items():
        assert got == reference, cause
    # The body's answer, plus the challenge of the scheme the client used, nothing else.
    status, body, headers = send(client, path, BODY_CAUSES["unknown client"], {})
    assert reference[:2] == (status, body)
    challenge = ("www-authenticate", 'Basic realm="shapestoken"')
    assert reference[2] == sorted([*headers, challenge])


def test_one_body_at_every_endpoint(client: TestClient) -> None:
    bodies = {
        send(client, path, data, headers)[1]
        for path in ENDPOINTS
        for data, headers in (
            (BODY_CAUSES["missing secret: a confidential client's id alone"], {}),
            ({}, BASIC_CAUSES["wrong secret"]),
        )
    }
    assert len(bodies) == 1


def test_only_introspection_refuses_a_public_clients_id_alone(client: TestClient) -> None:
    # A public client proves nothing, so introspection (RFC 7662 §2.1) refuses it with
    # the same answer as an unknown id; its id alone is enough at the token endpoint
    # (the implicit grant) and at revocation (RFC 7009 §2.1, its own tokens only).
    public = send(client, "/oauth/introspect", {"client_id": WEB}, {})
    assert public == send(client, "/oauth/introspect", {"client_id": UNKNOWN}, {})
    implicit = client.post("/oauth/token", data={"grant_type": "implicit", "client_id": WEB})
    assert implicit.status_code == 200, implicit.text
    revoked = client.post("/oauth/revoke", data={"token": "x", "client_id": WEB})
    assert revoked.status_code == 200 and revoked.content == b""
    # A confidential client's id alone gets nowhere: the one invalid_client answer.
    implicit = client.post("/oauth/token", data={"grant_type": "implicit", "client_id": CRM})
    assert answer(implicit)[:2] == send(client, "/oauth/token", {"client_id": UNKNOWN}, {})[:2]


def test_the_secrets_never_show(client: TestClient) -> None:
    for path in ENDPOINTS:
        for data in BODY_CAUSES.values():
            _, body, headers = send(client, path, data, {})
            assert CRM_SECRET.encode() not in body and WRONG.encode() not in body
            assert GATEWAY_SECRET not in str(headers)
