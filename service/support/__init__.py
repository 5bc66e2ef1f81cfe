"""Leaf helpers that know nothing of the service: secrets, time, JSON, deadlines, assets."""
