"""Which replica should serve which partition: round-robin over the live replicas, a plain function.

Kept apart from discovery (discovery.py) so the rule can be read and tested without a NATS server.
"""

from __future__ import annotations

import zlib


def owner(replicas: list[str], module: str, partition: int) -> str | None:
    """The replica that should serve a module partition: round-robin over the sorted ids, offset per module so
    that the first partitions of every module do not all land on the same replica."""
    if not replicas:
        return None
    ordered = sorted(replicas)
    return ordered[(zlib.crc32(module.encode()) + partition) % len(ordered)]
