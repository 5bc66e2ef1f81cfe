"""Tests of liquid_snippets/ (rendered by the real Liquid engine)."""
