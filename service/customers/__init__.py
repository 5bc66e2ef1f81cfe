"""Shopify customers: what a theme or the App Proxy signs, and who gets a customer token."""
