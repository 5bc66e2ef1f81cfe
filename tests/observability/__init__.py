"""Tests of service/observability."""
