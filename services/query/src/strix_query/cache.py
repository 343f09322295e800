"""Answers kept until a rollup commit touches their windows.

Commit notices travel over core NATS (at most once), so entries also expire after `max_age` seconds: a notice
lost in a reconnect cannot keep an answer stale for longer than that.

Invariants: an entry is stored only if no commit for its modules arrived while it was computed (generation
check), and a commit for module M with events in [first, last] drops every entry reading M over a window
that overlaps it. Entries are evicted least-recently-used beyond `capacity`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

Value = TypeVar("Value")
Window = tuple[str, datetime, datetime]  # module, start, end


@dataclass
class ResultCache(Generic[Value]):
    capacity: int = 512
    max_age: float = 300.0
    clock: Callable[[], float] = time.monotonic
    entries: OrderedDict[str, tuple[list[Window], Value, float]] = field(default_factory=OrderedDict)
    generations: dict[str, int] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0

    def generation(self, modules: list[str]) -> tuple[int, ...]:
        return tuple(self.generations.get(m, 0) for m in modules)

    def get(self, key: str) -> Value | None:
        found = self.entries.get(key)
        if found is None or self.clock() - found[2] > self.max_age:
            self.entries.pop(key, None)
            self.misses += 1
            return None
        self.entries.move_to_end(key)
        self.hits += 1
        return found[1]

    def put(self, key: str, windows: list[Window], value: Value, generation: tuple[int, ...]) -> bool:
        """Store unless a commit for one of the windows' modules arrived since `generation` was read."""
        if self.generation([w[0] for w in windows]) != generation:
            return False
        self.entries[key] = (windows, value, self.clock())
        self.entries.move_to_end(key)
        while len(self.entries) > self.capacity:
            self.entries.popitem(last=False)
        return True

    def invalidate(self, module: str, first: datetime, last: datetime) -> int:
        """A commit of events between `first` and `last` (inclusive): drop what it makes stale."""
        self.generations[module] = self.generations.get(module, 0) + 1
        stale = [
            key
            for key, (windows, _, _) in self.entries.items()
            if any(m == module and start <= last and first < end for m, start, end in windows)
        ]
        for key in stale:
            del self.entries[key]
        return len(stale)
