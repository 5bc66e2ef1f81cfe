"""Tests of service/dev."""
