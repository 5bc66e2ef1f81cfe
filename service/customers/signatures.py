"""HMAC checks of what a Shopify theme signs. Nothing here knows about HTTP.

A theme renders ``customer.id | hmac_sha256: shop.metafields.omneo.id_secret``:
the lowercase hex HMAC-SHA256 of the customer's ID, keyed with the shop's id
secret. In timestamped mode it signs ``"<id>:<ts>"`` instead, so a copied
signature stops working after ``signature_max_age`` seconds.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable, Sequence

from service.config.values import CUSTOMER_ID
from service.errors import InvalidRequest, InvalidSignature, SignatureExpired
from service.support.secret import Secret

#: Shopify's ``hmac_sha256`` filter output.
SIGNATURE = re.compile(r"[0-9a-f]{64}", re.ASCII)
TIMESTAMP = re.compile(r"(?:0|[1-9][0-9]{0,11})", re.ASCII)

#: How far in the future a timestamp may be (clock skew between Shopify and us).
MAX_FUTURE_SKEW = 300
#: Shopify's own libraries accept app proxy timestamps this far from now.
APP_PROXY_WINDOW = 90


def parse_customer_id(value: object) -> str:
    """Return the customer ID as the exact ASCII string the theme signed."""
    # bool is an int subclass; `true` is not a customer.
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not CUSTOMER_ID.fullmatch(value):
        raise InvalidRequest("`id` must be a Shopify customer ID: 1 to 20 ASCII digits.")
    return value


def parse_timestamp(value: object) -> int:
    """Return a Unix timestamp given as digits (string or JSON integer)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if not isinstance(value, str) or not TIMESTAMP.fullmatch(value):
        raise InvalidRequest("`ts` must be a Unix timestamp in ASCII digits.")
    return int(value)


def check_timestamp(ts: int, *, now: float, max_age: int, max_skew: int = MAX_FUTURE_SKEW) -> None:
    """Refuse a timestamp older than ``max_age`` or more than ``max_skew`` ahead."""
    if ts > now + max_skew or ts < now - max_age:
        raise SignatureExpired()


def signed_message(customer_id: str, ts: int | None = None) -> bytes:
    """The bytes a theme signs: ``"<id>"`` or ``"<id>:<ts>"``."""
    message = customer_id if ts is None else f"{customer_id}:{ts}"
    return message.encode("ascii")


class CustomerSigner:
    """Signs and verifies customer IDs with a shop's id secrets, newest first.

    Every secret verifies (rotation: the previous secret keeps working until
    it is removed); new signatures use the first.
    """

    __slots__ = ("_macs",)

    def __init__(self, secrets: Sequence[Secret]) -> None:
        if not secrets:
            raise ValueError("at least one secret is required")
        # Keyed once; each use copies the keyed state instead of re-hashing the key.
        self._macs = tuple(secret.hmac_sha256() for secret in secrets)

    def sign(self, customer_id: str, ts: int | None = None) -> str:
        mac = self._macs[0].copy()
        mac.update(signed_message(customer_id, ts))
        return mac.hexdigest()

    def verify(self, customer_id: str, signature: object, ts: int | None = None) -> None:
        """Raise :class:`InvalidSignature` unless ``signature`` matches a secret."""
        if not isinstance(signature, str) or not SIGNATURE.fullmatch(signature):
            # Wrong length, case or alphabet can never match the filter's output.
            raise InvalidSignature()
        message = signed_message(customer_id, ts)
        given = signature.encode("ascii")
        matched = False
        for keyed in self._macs:
            mac = keyed.copy()
            mac.update(message)
            # Every secret is compared, so timing does not tell which one matched.
            matched |= hmac.compare_digest(mac.hexdigest().encode("ascii"), given)
        if not matched:
            raise InvalidSignature()

    def __repr__(self) -> str:
        return f"CustomerSigner(<{len(self._macs)} secrets>)"


def app_proxy_message(params: Iterable[tuple[str, str]]) -> bytes:
    """The string Shopify signs for an App Proxy request.

    As Shopify documents it: drop ``signature``, join the values of a repeated
    name with ``,``, write each as ``name=value``, sort those strings, and
    concatenate them with no separator.
    """
    grouped: dict[str, list[str]] = {}
    for name, value in params:
        if name != "signature":
            grouped.setdefault(name, []).append(value)
    pairs = sorted(f"{name}={','.join(values)}" for name, values in grouped.items())
    return "".join(pairs).encode("utf-8")


#: A parameter name that could move the boundaries of the signed string: empty, or
#: holding ``=``, ``&`` or a control character (C0, DEL, C1).
_UNSAFE_NAME = re.compile(r"[=&\x00-\x1f\x7f-\x9f]|\A\Z")


def check_app_proxy_names(params: Iterable[tuple[str, str]]) -> None:
    """Refuse a parameter name that could re-split the signed string.

    Shopify's string has no separators, and a name may contain ``=`` when sent as
    ``%3D``: ``extra=Y&logged_in_customer_id=1234&logged_in_customer_id%3Dpath_prefix=..``
    concatenates to the same bytes as a guest's URL that carried
    ``extra=Ylogged_in_customer_id=1234``, so it would keep Shopify's signature.
    """
    if any(_UNSAFE_NAME.search(name) for name, _ in params):
        raise InvalidSignature(
            "An App Proxy parameter name is empty or holds '=', '&' or a control character."
        )


def verify_app_proxy(
    params: Sequence[tuple[str, str]],
    secret: Secret,
    *,
    now: float,
    window: int = APP_PROXY_WINDOW,
) -> str:
    """The signature of ``params`` (the forwarded query, in order), if Shopify made it."""
    signatures = [value for name, value in params if name == "signature"]
    if len(signatures) != 1 or not SIGNATURE.fullmatch(signatures[0]):
        raise InvalidSignature("The App Proxy signature is missing or malformed.")
    check_app_proxy_names(params)
    mac = secret.hmac_sha256()
    mac.update(app_proxy_message(params))
    if not hmac.compare_digest(mac.hexdigest().encode(), signatures[0].encode("ascii")):
        raise InvalidSignature("The App Proxy signature does not match the request.")
    stamps = [value for name, value in params if name == "timestamp"]
    if len(stamps) != 1 or not TIMESTAMP.fullmatch(stamps[0]):
        raise InvalidSignature("The App Proxy request has no valid timestamp.")
    # Signed, so the timestamp is Shopify's: a replay of an old URL is refused.
    if abs(now - int(stamps[0])) > window:
        raise SignatureExpired("The App Proxy request is too old (or from the future).")
    return signatures[0]
