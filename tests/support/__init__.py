"""Tests of service/support."""
