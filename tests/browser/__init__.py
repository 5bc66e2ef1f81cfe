"""Tests of static/js, the dashboard and /demo in a real Chromium."""
