"""The customer path's rules, without HTTP: which proofs mint a token, and for whom.

A shop proves its customer in one of three ways (docs/guides/theme.md, "Stronger proof of the
customer"): a plain signature of the id, a timestamped one, or a request that
Shopify's App Proxy signed. :class:`CustomerTokens` checks the proof, says what
shared state must agree (limits, blocks) and mints the token; it also verifies
a customer token against the audience of the shop it names.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import jwt

from service.config import ShopConfig
from service.customers.signatures import (
    APP_PROXY_WINDOW,
    CustomerSigner,
    check_timestamp,
    parse_customer_id,
    parse_timestamp,
    verify_app_proxy,
)
from service.errors import (
    InvalidRequest,
    InvalidToken,
    LoginRequired,
    SignedIdsDisabled,
    UnknownShop,
)
from service.signing.dpop import DPoP, Proof
from service.signing.tokens import CustomerClaims, IssuedToken, TokenIssuer, TokenVerifier
from service.state import Checks


@dataclass(frozen=True)
class Shop:
    """A configured shop with its signer built once."""

    config: ShopConfig
    #: ``None`` for an App-Proxy-only shop (no ``id_secrets``).
    signer: CustomerSigner | None

    @property
    def domain(self) -> str:
        return self.config.domain


class CustomerTokens:
    def __init__(
        self,
        shops: Mapping[str, ShopConfig],
        issuer: TokenIssuer,
        verifier: TokenVerifier,
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.shops = {
            domain: Shop(config, CustomerSigner(config.id_secrets) if config.signed_ids else None)
            for domain, config in shops.items()
        }
        self._issuer = issuer
        self._verifier = verifier
        self._now = now

    def shop(self, domain: str) -> Shop:
        shop = self.shops.get(domain)
        if shop is None:
            raise UnknownShop()
        return shop

    @staticmethod
    def check_signed_ids(shop: Shop) -> CustomerSigner:
        """The shop's signer; 403 ``signed_ids_disabled`` for an App-Proxy-only shop."""
        if shop.signer is None:
            raise SignedIdsDisabled()
        return shop.signer

    def prove_signature(self, shop: Shop, fields: Mapping[str, object]) -> str:
        """The customer id that ``fields`` (``id``, ``signature``, maybe ``ts``) prove."""
        signer = self.check_signed_ids(shop)
        customer_id = parse_customer_id(fields["id"])
        signature = fields["signature"]
        if not isinstance(signature, str):
            raise InvalidRequest("`signature` must be a string of hex digits.")
        config = shop.config
        ts: int | None = None
        if "ts" in fields:
            if config.signature_max_age is None:
                raise InvalidRequest("This shop does not use timestamped signatures; omit `ts`.")
            ts = parse_timestamp(fields["ts"])
        elif config.require_timestamp:
            raise InvalidRequest("This shop requires a timestamped signature (`ts`).")
        # The signature first: `signature_expired` then only ever means a genuine
        # signature that is too old, and the page can say "reload".
        signer.verify(customer_id, signature, ts)
        if ts is not None:
            assert config.signature_max_age is not None
            check_timestamp(ts, now=self._now(), max_age=config.signature_max_age)
        return customer_id

    def prove_app_proxy(self, params: Sequence[tuple[str, str]]) -> tuple[Shop, str, str]:
        """``(shop, customer id, signature)`` of a request Shopify's App Proxy signed."""
        domains = [value for name, value in params if name == "shop"]
        shop = self.shops.get(domains[0]) if len(domains) == 1 else None
        if shop is None or shop.config.app_proxy_secret is None:
            raise UnknownShop("This shop is not configured for the App Proxy.")
        signature = verify_app_proxy(params, shop.config.app_proxy_secret, now=self._now())
        customers = [value for name, value in params if name == "logged_in_customer_id"]
        if len(customers) != 1:
            raise InvalidRequest("The App Proxy request must carry one `logged_in_customer_id`.")
        if not customers[0]:
            # Shopify sends the parameter empty for a guest.
            raise LoginRequired("Log in to get a customer token.")
        return shop, parse_customer_id(customers[0]), signature

    @staticmethod
    def mint_checks(
        shop: Shop,
        customer_id: str,
        *,
        ip: str | None,
        proof: str | None = None,
        dpop: Proof | None = None,
    ) -> Checks:
        """What shared state must allow before ``customer_id`` gets a token.

        ``per_customer`` is counted only for a proven customer, so a stranger
        cannot use up someone else's budget. A one-time ``proof`` (an App Proxy
        signature) or ``dpop`` proof is remembered for as long as it could be accepted.
        """
        limits: tuple[tuple[str, str], ...] = (("per_customer", f"{shop.domain}/{customer_id}"),)
        if ip is not None:
            limits = (("per_ip", ip), *limits)
        first_use = None
        if proof is not None:
            first_use = (f"app-proxy/{proof}", 2 * APP_PROXY_WINDOW)
        elif dpop is not None:
            first_use = DPoP.replay_mark(dpop)
        return Checks(limits=limits, customer=(shop.domain, customer_id), first_use=first_use)

    def mint(self, shop: Shop, customer_id: str, *, jkt: str | None = None) -> IssuedToken:
        """The customer's token; with ``jkt`` (a DPoP proof's key), bound to that key."""
        config = shop.config
        return self._issuer.mint_customer(
            shop=config.domain,
            customer_id=customer_id,
            audience=config.audience,
            scope=config.scope,
            ttl=config.token_ttl,
            jkt=jkt,
        )

    def verify(self, token: str) -> CustomerClaims:
        """The claims of a valid customer token, checked against its shop's audience."""
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError as exc:
            raise InvalidToken("The token is malformed.") from exc
        shop = self.shops.get(str(unverified.get("shop")))
        if shop is None:
            raise InvalidToken()
        # Verified in full: signature, kind, issuer, and this shop's audience.
        return self._verifier.verify_customer(token, audience=shop.config.audience)
