"""Benchmark harness: the mint endpoint against a bare Starlette app and a naive peer.

``python -m bench`` runs alternating wrk rounds and prints markdown;
``python -m bench memory`` mints for a million new customers in-process and
reports RSS. See ``bench/README.md``.
"""

from __future__ import annotations
