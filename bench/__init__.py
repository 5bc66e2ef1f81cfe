"""Benchmark harness: mint throughput against a bare Starlette baseline, and memory.

``python -m bench`` runs the throughput rounds and prints a markdown table;
``python -m bench memory`` mints for a million distinct customers and reports
RSS; ``python -m bench profile`` shows where a mint request's microseconds go.
See ``bench/README.md``.
"""

from __future__ import annotations
