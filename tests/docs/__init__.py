"""Tests of the docs' examples, run as written."""
