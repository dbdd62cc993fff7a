"""Process-wide caches in one registry.

A cache is a dict keyed by something that includes what makes its value stale (a form id of a locked form,
a sitting's key corrections). Tests that truncate the database reuse ids, so they clear every cache at once
with `clear_all()` instead of reaching into modules.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_REGISTRY: dict[str, ProcessCache] = {}  # type: ignore[type-arg]


class ProcessCache(dict[K, V], Generic[K, V]):
    """A named dict that drops its oldest entries beyond `max_entries` (insertion order)."""

    def __init__(self, name: str, max_entries: int | None = None) -> None:
        super().__init__()
        self.name = name
        self.max_entries = max_entries

    def __setitem__(self, key: K, value: V) -> None:
        super().__setitem__(key, value)
        if self.max_entries is not None:
            while len(self) > self.max_entries:
                del self[next(iter(self))]


def process_cache(name: str, max_entries: int | None = None) -> ProcessCache:  # type: ignore[type-arg]
    """The registered cache called `name`, made on first use."""
    cache = _REGISTRY.get(name)
    if cache is None:
        cache = _REGISTRY[name] = ProcessCache(name, max_entries)
    return cache


def clear_all() -> None:
    """Empty every registered cache (tests, after a truncate; operators, after a restore)."""
    for cache in _REGISTRY.values():
        cache.clear()


def registered() -> dict[str, int]:
    """Each cache's name and current size, for the health page and tests."""
    return {name: len(cache) for name, cache in _REGISTRY.items()}
