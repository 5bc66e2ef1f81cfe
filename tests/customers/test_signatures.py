from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.customers.signatures import (
    CustomerSigner,
    check_timestamp,
    parse_customer_id,
    parse_timestamp,
)
from service.errors import InvalidRequest, InvalidSignature, SignatureExpired
from service.support.secret import Secret
from tests import strategies


def shopify_hmac_sha256(message: str, key: bytes) -> str:
    """Shopify's `hmac_sha256` Liquid filter: lowercase hex HMAC-SHA256."""
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


@given(strategies.customer_ids, strategies.secrets)
def test_a_valid_signature_always_verifies(customer_id: str, secret: bytes) -> None:
    signer = CustomerSigner([Secret(secret)])
    signature = shopify_hmac_sha256(customer_id, secret)
    assert signer.sign(customer_id) == signature
    signer.verify(customer_id, signature)


@given(strategies.customer_ids, strategies.secrets, st.data())
def test_any_changed_character_never_verifies(
    customer_id: str, secret: bytes, data: st.DataObject
) -> None:
    signer = CustomerSigner([Secret(secret)])
    signature = signer.sign(customer_id)
    index = data.draw(st.integers(0, len(signature) - 1))
    replacement = data.draw(strategies.hex_chars.filter(lambda c: c != signature[index]))
    tampered = signature[:index] + replacement + signature[index + 1 :]
    with pytest.raises(InvalidSignature):
        signer.verify(customer_id, tampered)


@given(strategies.customer_ids, strategies.customer_ids, strategies.secrets)
def test_a_signature_is_for_one_customer_only(a: str, b: str, secret: bytes) -> None:
    signer = CustomerSigner([Secret(secret)])
    if a != b:
        with pytest.raises(InvalidSignature):
            signer.verify(b, signer.sign(a))


@given(strategies.customer_ids, strategies.secrets, strategies.secrets)
def test_every_configured_secret_verifies(customer_id: str, new: bytes, old: bytes) -> None:
    signer = CustomerSigner([Secret(new), Secret(old)])
    signer.verify(customer_id, shopify_hmac_sha256(customer_id, new))
    signer.verify(customer_id, shopify_hmac_sha256(customer_id, old))
    assert signer.sign(customer_id) == shopify_hmac_sha256(customer_id, new)


def test_a_removed_secret_no_longer_verifies() -> None:
    old = b"o" * 32
    signature = shopify_hmac_sha256("42", old)
    CustomerSigner([Secret(b"n" * 32), Secret(old)]).verify("42", signature)
    with pytest.raises(InvalidSignature):
        CustomerSigner([Secret(b"n" * 32)]).verify("42", signature)


@given(strategies.customer_ids, strategies.secrets, strategies.timestamps)
def test_timestamped_signatures_cover_id_and_ts(customer_id: str, secret: bytes, ts: int) -> None:
    signer = CustomerSigner([Secret(secret)])
    signature = shopify_hmac_sha256(f"{customer_id}:{ts}", secret)
    signer.verify(customer_id, signature, ts)
    with pytest.raises(InvalidSignature):
        signer.verify(customer_id, signature, ts + 1)
    with pytest.raises(InvalidSignature):
        signer.verify(customer_id, signature)


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "a" * 63,
        "a" * 65,
        "A" * 64,
        "g" * 64,
        " " + "a" * 63,
        "a" * 64 + "\n",
        "０" * 64,
        None,
        64,
        ["a" * 64],
    ],
    ids=repr,
)
def test_malformed_signatures_are_refused(signature: object) -> None:
    with pytest.raises(InvalidSignature):
        CustomerSigner([Secret(b"k" * 32)]).verify("1", signature)


def test_uppercase_hex_of_the_right_signature_is_refused() -> None:
    signer = CustomerSigner([Secret(b"k" * 32)])
    with pytest.raises(InvalidSignature):
        signer.verify("7", signer.sign("7").upper())


@pytest.mark.parametrize("value", ["1", "42", "9" * 20, 1, 10**19, "12345678901234567890"])
def test_customer_ids_accepted(value: object) -> None:
    assert parse_customer_id(value) == str(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "0",
        "0123",
        "+1",
        "-1",
        "1_23",
        "1e5",
        "1.0",
        " 1",
        "1 ",
        "1\n",
        "١٢٣",
        "１２３",
        "1" * 21,
        "9" * 500,
        0,
        -5,
        10**20,
        True,
        False,
        None,
        1.0,
        1e5,
        [1],
        {"id": 1},
    ],
    ids=repr,
)
def test_malformed_customer_ids_are_refused(value: object) -> None:
    with pytest.raises(InvalidRequest):
        parse_customer_id(value)


@pytest.mark.parametrize("value", ["0", "1700000000", 1700000000])
def test_timestamps_accepted(value: object) -> None:
    assert parse_timestamp(value) == int(value)  # type: ignore[call-overload]


@pytest.mark.parametrize("value", ["", "-1", "1.5", "01", "1e9", "٣", True, None, 1.5, -1])
def test_malformed_timestamps_are_refused(value: object) -> None:
    with pytest.raises(InvalidRequest):
        parse_timestamp(value)


@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_timestamp_window(offset: int) -> None:
    now, max_age = 1_800_000_000, 3600
    ts = now + offset
    if -max_age <= offset <= 300:
        check_timestamp(ts, now=now, max_age=max_age)
    else:
        with pytest.raises(SignatureExpired):
            check_timestamp(ts, now=now, max_age=max_age)


def test_signer_repr_hides_secrets() -> None:
    signer = CustomerSigner([Secret(b"topsecret" * 4)])
    assert "topsecret" not in repr(signer)
    assert "topsecret" not in repr(Secret(b"topsecret" * 4))
    assert str(Secret("topsecret" * 4)) == "**********"
