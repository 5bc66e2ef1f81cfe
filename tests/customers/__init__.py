"""Tests of service/customers."""
