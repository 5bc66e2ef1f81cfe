"""DPoP (RFC 9449) in the service: proofs at the token endpoints and at ``/v1/me``.

The checks of RFC 9449 §4.3 are the verifier package's (:mod:`shapestoken_verifier.dpop`),
the one implementation the service and the APIs that take its tokens share. What is
the service's own is here: which algorithms it lists, its URL (``issuer`` + path, never
the listening address, so a proxy in front changes nothing), its nonces (§8: stateless,
keyed by the signing keys, so every replica issues and accepts the same ones) and the
name under which a proof's ``jti`` is remembered (§11.1), which the caller passes to
the shared state as a one-time mark.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Sequence

from cryptography.hazmat.primitives import serialization
from shapestoken_verifier.dpop import (
    NONCE_LIFETIME,
    WINDOW,
    NonceSource,
    Proof,
    ProofError,
    check_proof,
)

from service.config.values import DPoPMode
from service.errors import DPoPUnauthorized, InvalidDPoPProof, UseDPoPNonce
from service.signing.keys import KeyRing, SigningKey

__all__ = ["ALGORITHMS", "DPoP", "Proof", "REPLAY_SECONDS", "nonce_secret"]

#: The proof algorithms accepted (``dpop_signing_alg_values_supported``, RFC 9449 §5.1).
#: ES256 is what browsers sign with; all are asymmetric (§4.2: never ``none`` or a MAC).
ALGORITHMS = ("ES256", "ES384", "EdDSA")
#: How long a proof's ``jti`` is remembered: longer than any proof carrying it could be
#: accepted, by its ``iat`` (the window either side of now) or by a nonce (its lifetime).
REPLAY_SECONDS = 2 * WINDOW + NONCE_LIFETIME
#: Domain separation: the nonce key is derived from a signing key, never the key itself.
_NONCE_LABEL = b"shapestoken dpop nonce key"


def nonce_secret(key: SigningKey) -> bytes:
    """The nonce secret derived from a signing key (HMAC-SHA256 of its private bytes)."""
    der = key.private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return hmac.new(_NONCE_LABEL, der, hashlib.sha256).digest()


class DPoP:
    """Checks proofs for this service's URLs and issues its nonces."""

    def __init__(
        self, keyring: KeyRing, issuer: str, *, now: Callable[[], float] = time.time
    ) -> None:
        self._keyring = keyring
        self._issuer = issuer
        self._now = now
        self._sources: dict[str, NonceSource] = {}

    # -- nonces (RFC 9449 §8) -----------------------------------------------------------

    def _source(self, key: SigningKey) -> NonceSource:
        source = self._sources.get(key.kid)
        if source is None:
            # Made once per key; a rotated-out key's source goes with it.
            held = {k.kid for k in self._keyring.keys}
            self._sources = {kid: s for kid, s in self._sources.items() if kid in held}
            source = self._sources[key.kid] = NonceSource(nonce_secret(key), now=self._now)
        return source

    def issue_nonce(self) -> str:
        """A fresh nonce, keyed by the newest signing key."""
        return self._source(self._keyring.keys[0]).issue()

    def nonce_valid(self, nonce: str) -> bool:
        """Whether ``nonce`` is one of ours, younger than its lifetime.

        Any key held counts: replicas reloading a rotated key a moment apart keep
        accepting each other's nonces.
        """
        return any(self._source(key).valid(nonce) for key in self._keyring.keys)

    # -- proofs -------------------------------------------------------------------------

    def _check(self, proofs: Sequence[str], method: str, path: str, token: str | None) -> Proof:
        if len(proofs) != 1:
            # RFC 9449 §4.3 (1): exactly one DPoP header.
            raise ProofError("invalid_dpop_proof", "Send exactly one DPoP header.")
        return check_proof(
            proofs[0],
            method=method,
            url=self._issuer + path,
            algorithms=ALGORITHMS,
            now=self._now(),
            access_token=token,
            nonce_valid=self.nonce_valid,
        )

    def token_request(
        self, mode: DPoPMode, proofs: Sequence[str], *, method: str, path: str, who: str
    ) -> Proof | None:
        """The checked proof of a token request, or ``None`` for a bearer token.

        ``mode`` is the shop's or client's ``dpop`` setting, ``who`` names it in
        the error of ``"required"``. Errors are RFC 9449 §5's: 400
        ``invalid_dpop_proof``, or 400 ``use_dpop_nonce`` with a fresh nonce.
        """
        if mode == "off":
            return None  # the header is ignored: tokens stay bearer
        if not proofs:
            if mode == "required":
                raise InvalidDPoPProof(f"{who} requires DPoP: send a DPoP proof (RFC 9449).")
            return None
        try:
            return self._check(proofs, method, path, None)
        except ProofError as exc:
            if exc.error == "use_dpop_nonce":
                raise UseDPoPNonce(exc.description, nonce=self.issue_nonce()) from exc
            raise InvalidDPoPProof(exc.description) from exc

    def resource_request(
        self, proofs: Sequence[str], *, method: str, path: str, token: str, jkt: str
    ) -> Proof:
        """The checked proof for a bound token at a resource (RFC 9449 §7.1), or 401."""
        if not proofs:
            raise self.refusal("invalid_dpop_proof", "A DPoP-bound token needs a DPoP proof.")
        try:
            proof = self._check(proofs, method, path, token)
        except ProofError as exc:
            raise self.refusal(exc.error, exc.description) from exc
        if not hmac.compare_digest(proof.jkt, jkt):
            raise self.refusal("invalid_token", "The token is bound to another key.")
        return proof

    def refusal(self, error: str, description: str) -> DPoPUnauthorized:
        """A 401 with the DPoP challenge; a fresh nonce with ``use_dpop_nonce``."""
        nonce = self.issue_nonce() if error == "use_dpop_nonce" else None
        return DPoPUnauthorized(error, description, algs=ALGORITHMS, nonce=nonce)

    @staticmethod
    def replay_mark(proof: Proof) -> tuple[str, int]:
        """The one-time mark of a proof (RFC 9449 §11.1: one use per ``jti`` and key)."""
        return f"dpop/{proof.jkt}/{proof.jti}", REPLAY_SECONDS
