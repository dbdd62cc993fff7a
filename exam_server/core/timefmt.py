"""Times are stored in UTC and shown in Asia/Shanghai."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

DISPLAY_ZONE = ZoneInfo("Asia/Shanghai")


def local(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A UTC datetime as Beijing time text; '' for None."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(DISPLAY_ZONE).strftime(fmt)


def iso(value: dt.datetime | None) -> str | None:
    """A datetime as the wire protocol's UTC text (`2026-05-01T02:15:30Z`); None for None."""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None
