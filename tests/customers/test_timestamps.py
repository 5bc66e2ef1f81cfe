"""Timestamped signatures over HTTP: every status of the timestamped table."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from service.customers.signatures import CustomerSigner, check_timestamp
from service.errors import InvalidSignature, SignatureExpired
from service.support.secret import Secret
from tests import strategies
from tests.conftest import SECRET, SHOP, ClientFactory, Clock, make_shop, sign
from tests.helpers import assert_error, post_json

MAX_AGE = 86400


@pytest.fixture
def optional_ts(client_factory: ClientFactory) -> TestClient:
    return client_factory(shops={SHOP: make_shop(signature_max_age=MAX_AGE)})


@pytest.fixture
def required_ts(client_factory: ClientFactory) -> TestClient:
    shop = make_shop(signature_max_age=MAX_AGE, require_timestamp=True)
    return client_factory(shops={SHOP: shop})


@pytest.mark.parametrize("as_int", [False, True])
def test_a_fresh_timestamped_signature_gets_a_token(
    optional_ts: TestClient, clock: Clock, as_int: bool
) -> None:
    ts = int(clock()) - 3600
    body = {"id": "42", "signature": sign("42", ts=ts), "ts": ts if as_int else str(ts)}
    assert post_json(optional_ts, body).status_code == 200


def test_plain_signatures_still_work_until_timestamps_are_required(
    optional_ts: TestClient, required_ts: TestClient
) -> None:
    assert post_json(optional_ts, {"id": "42", "signature": sign("42")}).status_code == 200
    response = post_json(required_ts, {"id": "42", "signature": sign("42")})
    assert_error(response, 400, "invalid_request")


@pytest.mark.parametrize("offset", [-MAX_AGE - 1, -10 * MAX_AGE, 301, 3600])
def test_stale_or_future_ts_gets_signature_expired(
    required_ts: TestClient, clock: Clock, offset: int
) -> None:
    ts = int(clock()) + offset
    response = post_json(required_ts, {"id": "42", "signature": sign("42", ts=ts), "ts": ts})
    assert_error(response, 401, "signature_expired")


@pytest.mark.parametrize("offset", [-MAX_AGE, 0, 300])
def test_window_edges_are_accepted(required_ts: TestClient, clock: Clock, offset: int) -> None:
    ts = int(clock()) + offset
    body = {"id": "42", "signature": sign("42", ts=ts), "ts": str(ts)}
    assert post_json(required_ts, body).status_code == 200


def test_a_signature_over_another_ts_is_invalid(required_ts: TestClient, clock: Clock) -> None:
    ts = int(clock())
    body = {"id": "42", "signature": sign("42", ts=ts - 1), "ts": str(ts)}
    assert_error(post_json(required_ts, body), 401, "invalid_signature")


def test_a_stale_forgery_is_invalid_not_expired(required_ts: TestClient, clock: Clock) -> None:
    # Expiry is only reported for a genuine signature: it tells the page to reload.
    ts = int(clock()) - 10 * MAX_AGE
    body = {"id": "42", "signature": "0" * 64, "ts": str(ts)}
    assert_error(post_json(required_ts, body), 401, "invalid_signature")


@pytest.mark.parametrize("ts", ["", "abc", "-1", "1.5", "1e9", "٣٤", " 1", True, None, 1.5, -5])
def test_ts_must_be_digits(required_ts: TestClient, ts: object) -> None:
    body = {"id": "42", "signature": "a" * 64, "ts": ts}
    assert_error(post_json(required_ts, body), 400, "invalid_request")


def test_null_ts_is_not_a_missing_ts(optional_ts: TestClient) -> None:
    body = {"id": "42", "signature": sign("42"), "ts": None}
    assert_error(post_json(optional_ts, body), 400, "invalid_request")


def test_a_shop_without_timestamps_refuses_ts(client: TestClient, clock: Clock) -> None:
    ts = int(clock())
    response = post_json(client, {"id": "42", "signature": sign("42", ts=ts), "ts": str(ts)})
    body = assert_error(response, 400, "invalid_request")
    assert "omit `ts`" in body["error_description"]


@given(
    customer_id=strategies.customer_ids,
    ts=strategies.timestamps,
    data=st.data(),
)
def test_any_change_to_id_ts_or_signature_is_refused(
    customer_id: str, ts: int, data: st.DataObject
) -> None:
    signer = CustomerSigner([Secret(SECRET)])
    signature = signer.sign(customer_id, ts)
    signer.verify(customer_id, signature, ts)
    which = data.draw(st.sampled_from(["id", "ts", "signature"]))
    if which == "id":
        other = data.draw(strategies.customer_ids.filter(lambda c: c != customer_id))
        args = (other, signature, ts)
    elif which == "ts":
        other_ts = data.draw(strategies.timestamps.filter(lambda t: t != ts))
        args = (customer_id, signature, other_ts)
    else:
        index = data.draw(st.integers(0, 63))
        char = data.draw(strategies.hex_chars.filter(lambda c: c != signature[index]))
        args = (customer_id, signature[:index] + char + signature[index + 1 :], ts)
    with pytest.raises(InvalidSignature):
        signer.verify(*args)


@given(age=st.integers(min_value=-(10**7), max_value=10**7), max_age=st.integers(60, 7 * 86400))
def test_any_ts_outside_the_window_is_refused(age: int, max_age: int) -> None:
    now = 1_800_000_000
    inside = -300 <= age <= max_age
    if inside:
        check_timestamp(now - age, now=now, max_age=max_age)
    else:
        with pytest.raises(SignatureExpired):
            check_timestamp(now - age, now=now, max_age=max_age)
