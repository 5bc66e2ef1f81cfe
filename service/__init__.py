"""Shapes Token Service: short-lived JWTs for Shopify storefront customers."""

from __future__ import annotations

__version__ = "0.1.0"
