"""Limits, revocations, blocks and replay marks: in memory or on Redis, behind one interface."""

from __future__ import annotations

from service.state.base import Block, Checks, State

__all__ = ["Block", "Checks", "State"]
