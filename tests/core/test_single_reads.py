"""A one-statement read (item_bank.db.read_one) sends that statement and nothing else: no BEGIN before it (and so
no ROLLBACK after it: tests/core/test_postgres_transactions.py), on either backend. Every socket connect and
candidate request checks its login with one, and a whole centre reconnects at once after a restart."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Sitting
from flask import Flask
from sqlalchemy import Integer, String, bindparam, column, event, insert, select, table, text
from sqlalchemy.engine import Engine

from exam_server.core.auth import candidate_accounts
from exam_server.extensions import db
from exam_server.sessions.models import Ticket
from item_bank.db import make_engine, read_one

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


def _count_statements(engine: Engine) -> list[str]:
    sent: list[str] = []
    if engine.dialect.name == "sqlite":
        # SQLite's own trace: every statement the library runs, those sent around SQLAlchemy's events included
        # (read_one's prepared reads, a BEGIN, a ROLLBACK on return).
        @event.listens_for(engine, "checkout")
        def _traced(dbapi_connection: Any, *_rest: Any) -> None:
            dbapi_connection.set_trace_callback(sent.append)

        return sent

    # What reaches the driver's cursor (on PostgreSQL a BEGIN rides in front of its statement). A ROLLBACK sent on
    # return bypasses SQLAlchemy's events: tests/core/test_postgres_transactions.py counts those at the driver.
    @event.listens_for(engine, "after_cursor_execute")
    def _sent(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        sent.append(statement)

    return sent


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS read_probe"))
        conn.execute(text("CREATE TABLE read_probe (id integer PRIMARY KEY, note text)"))
        conn.execute(text("INSERT INTO read_probe VALUES (1, 'a')"))
    yield engine
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE read_probe"))
    engine.dispose()


_PROBE_TABLE = table("read_probe", column("id", Integer), column("note", String))
PROBE = select(_PROBE_TABLE.c.id, _PROBE_TABLE.c.note).where(_PROBE_TABLE.c.id == bindparam("id", type_=Integer))


def test_a_single_read_sends_its_statement_alone(engine: Engine) -> None:
    sent = _count_statements(engine)
    row = read_one(engine, PROBE, {"id": 1})
    assert row is not None and tuple(row) == (1, "a")
    # On PostgreSQL the SELECT runs prepared (tests/core/test_server_prepared.py), prepared with its first run.
    assert len(sent) == 1 and sent[0].lstrip().upper().startswith(("SELECT", "PREPARE", "EXECUTE")), sent
    assert "BEGIN" not in sent[0], sent
    assert read_one(engine, PROBE, {"id": 2}) is None


def test_a_transaction_after_a_single_read_is_whole_again(engine: Engine) -> None:
    """The option belongs to read_one's connection only: the pooled connection's next user has its BEGIN."""
    read_one(engine, PROBE, {"id": 1})
    sent = _count_statements(engine)
    with engine.connect() as conn:
        conn.execute(text("INSERT INTO read_probe VALUES (2, 'b')"))
        conn.rollback()
    assert any("BEGIN" in s.upper() for s in sent), sent
    assert read_one(engine, PROBE, {"id": 2}) is None  # rolled back: the insert ran inside a transaction


def test_only_a_select_may_be_a_single_read(engine: Engine) -> None:
    with pytest.raises(ValueError, match="SELECT"):
        read_one(engine, insert(Ticket).values(number="x"), {})  # type: ignore[arg-type]


def test_a_candidates_login_check_is_one_statement(app: Flask, sitting: Sitting) -> None:
    """What every socket connect of a reconnecting centre does first: the ticket behind its login cookie
    (flask_login's loader, core/auth.py's load_principal, asks the sessions package)."""
    ticket_id = db.session.scalar(select(Ticket.id).order_by(Ticket.id).limit(1))
    assert ticket_id is not None and db.engine is not None
    sent = _count_statements(db.engine)
    principal = candidate_accounts().load(ticket_id)
    assert principal is not None and principal.ticket_id == ticket_id and principal.is_candidate
    assert len(sent) == 1 and "ticket" in sent[0].lower() and not sent[0].startswith("BEGIN"), sent
    assert candidate_accounts().load(ticket_id + 10_000) is None
