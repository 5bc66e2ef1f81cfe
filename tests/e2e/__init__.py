"""Tests of the whole service as real server processes (Procfile, replicas, Redis, databases)."""
