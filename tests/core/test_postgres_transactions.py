"""On PostgreSQL a transaction's BEGIN travels with its first statement, and a statement marked as the last carries
the COMMIT (item_bank.db): fewer round trips for what a whole room does at once, with every transaction still whole.

Round trips are counted at the driver: every `execute` of a psycopg2 cursor is one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg2.extensions
import pytest
from postgres_support import counting_cursor
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from item_bank.db import COMMIT_WITH_STATEMENT, driver_cursor, make_engine, read_one

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

SENT: list[str] = []



@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, connect_args={"cursor_factory": counting_cursor(SENT)})
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS tx_probe"))
        conn.execute(text("CREATE TABLE tx_probe (id integer PRIMARY KEY, note text)"))
    SENT.clear()
    yield engine
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE tx_probe"))
    engine.dispose()


def _notes(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT note FROM tx_probe ORDER BY id")).scalars())


def _status(conn: Any) -> int:
    return conn.connection.dbapi_connection.info.transaction_status


def test_begin_goes_with_the_first_statement_and_commit_is_one_more(engine: Engine) -> None:
    with Session(engine) as session:
        session.execute(text("INSERT INTO tx_probe VALUES (1, 'a')"))
        session.execute(text("INSERT INTO tx_probe VALUES (2, 'b')"))
        session.commit()
    assert SENT == ["BEGIN;\nINSERT INTO tx_probe VALUES (1, 'a')", "INSERT INTO tx_probe VALUES (2, 'b')", "COMMIT"]
    assert _notes(engine) == ["a", "b"]


def test_a_transaction_that_ran_nothing_sends_nothing(engine: Engine) -> None:
    with Session(engine) as session:
        session.connection()
        session.commit()
    assert SENT == []


def test_the_last_statement_carries_the_commit(engine: Engine) -> None:
    with Session(engine) as session:
        session.execute(text("INSERT INTO tx_probe VALUES (1, 'a')"), execution_options={COMMIT_WITH_STATEMENT: True})
        assert _status(session.connection()) == psycopg2.extensions.TRANSACTION_STATUS_IDLE
        session.commit()
    assert SENT == ["BEGIN;\nINSERT INTO tx_probe VALUES (1, 'a');\nCOMMIT"]
    assert _notes(engine) == ["a"]


def test_nothing_may_run_after_the_carried_commit(engine: Engine) -> None:
    """A flush after it would otherwise run outside the transaction, committed on its own."""
    with Session(engine) as session:
        session.execute(text("INSERT INTO tx_probe VALUES (1, 'a')"), execution_options={COMMIT_WITH_STATEMENT: True})
        with pytest.raises(RuntimeError, match="after its transaction's COMMIT"):
            session.execute(text("INSERT INTO tx_probe VALUES (2, 'b')"))
        session.rollback()
    assert _notes(engine) == ["a"]


def test_a_rollback_undoes_every_statement(engine: Engine) -> None:
    with Session(engine) as session:
        session.execute(text("INSERT INTO tx_probe VALUES (1, 'a')"))
        session.execute(text("INSERT INTO tx_probe VALUES (2, 'b')"))
        session.rollback()
    assert _notes(engine) == []
    assert SENT[-1] == "ROLLBACK"


def test_a_failed_statement_leaves_nothing_of_its_transaction(engine: Engine) -> None:
    with Session(engine) as session:
        session.execute(text("INSERT INTO tx_probe VALUES (1, 'a')"))
        with pytest.raises(Exception, match="duplicate key"):
            session.execute(text("INSERT INTO tx_probe VALUES (1, 'again')"),
                            execution_options={COMMIT_WITH_STATEMENT: True})
        session.rollback()
        session.execute(text("INSERT INTO tx_probe VALUES (3, 'c')"))
        session.commit()
    assert _notes(engine) == ["c"]


def test_a_connection_returned_mid_transaction_is_rolled_back(engine: Engine) -> None:
    """A step that returns early closes its session without a commit: the pooled connection must not keep the
    transaction (and its row locks) for whoever takes it next."""
    conn = engine.connect()
    conn.execute(text("INSERT INTO tx_probe VALUES (1, 'a')"))
    raw = conn.connection.dbapi_connection
    assert raw.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_INTRANS
    conn.close()
    assert raw.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    assert _notes(engine) == []


def test_a_raw_cursor_runs_inside_the_transaction(engine: Engine) -> None:
    """COPY and the scoring read go through the driver's cursor: a BEGIN still waiting is sent before them."""
    with Session(engine) as session:
        cursor = driver_cursor(session.connection())
        cursor.execute("INSERT INTO tx_probe VALUES (1, 'a')")
        cursor.close()
        session.rollback()
    assert _notes(engine) == []


def test_savepoints_work_inside_the_deferred_transaction(engine: Engine) -> None:
    with Session(engine) as session:
        with session.begin_nested():
            session.execute(text("INSERT INTO tx_probe VALUES (1, 'a')"))
        nested = session.begin_nested()
        session.execute(text("INSERT INTO tx_probe VALUES (2, 'b')"))
        nested.rollback()
        session.commit()
    assert SENT[0].startswith("BEGIN;\nSAVEPOINT")
    assert _notes(engine) == ["a"]


def test_a_single_read_is_one_round_trip(engine: Engine) -> None:
    """read_one: the SELECT alone, no BEGIN in front of it and no ROLLBACK when its connection goes back."""
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO tx_probe VALUES (1, 'a')"))
    SENT.clear()
    probe = select(text("note")).select_from(text("tx_probe")).where(text("id = :id"))
    row = read_one(engine, probe, {"id": 1})
    assert row is not None and row[0] == "a"
    assert len(SENT) == 1 and SENT[0].startswith(("PREPARE", "EXECUTE")), SENT  # prepared: test_server_prepared.py
    with engine.connect() as conn:  # the pooled connection's next transaction has its BEGIN again
        conn.execute(text("SELECT 1"))
    assert SENT[1] == "BEGIN;\nSELECT 1" and SENT[2:] == ["ROLLBACK"], SENT
