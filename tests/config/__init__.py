"""Tests of service/config."""
