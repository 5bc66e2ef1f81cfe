"""Tests of service/signing."""
