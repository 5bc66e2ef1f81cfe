"""Tests of service/state."""
