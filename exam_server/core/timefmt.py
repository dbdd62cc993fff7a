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
