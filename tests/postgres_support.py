"""What the PostgreSQL transport tests share: a driver cursor that records every query it is given (one `execute`
of a psycopg2 cursor is one round trip)."""

from __future__ import annotations

from typing import Any

import psycopg2.extensions


def counting_cursor(sent: list[str]) -> type[psycopg2.extensions.cursor]:
    """A cursor class (psycopg2's `cursor_factory`) that appends each query's text to `sent` before running it."""

    class CountingCursor(psycopg2.extensions.cursor):
        def execute(self, query: Any, vars: Any = None) -> Any:
            sent.append(query if isinstance(query, str) else query.decode())
            return super().execute(query, vars)

    return CountingCursor
