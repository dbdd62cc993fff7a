"""Work a server process runs beside its requests (the deadline sweeper), started by `examctl run`.

The packages that own such work register it here when they are imported, so core, at the bottom of the
layers, starts them without knowing who they are.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

BackgroundStart = Callable[[Flask], None]

_STARTS: list[BackgroundStart] = []


def background_task(start: BackgroundStart) -> BackgroundStart:
    """Register `start(app)`, which starts one piece of background work for the served `app`."""
    if start not in _STARTS:
        _STARTS.append(start)
    return start


def start_background_tasks(app: Flask) -> None:
    """Start every registered piece of background work (once per served process)."""
    for start in _STARTS:
        start(app)
