"""The declarative base, column types and session helpers shared by every table of the engine.

It lives in `item_bank` because that is the lowest package that knows SQLAlchemy; `exam_server`
builds on it, `scoring` never sees it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import sqlite3
import threading
import time
import weakref
from collections import deque, namedtuple
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, DateTime, Insert, MetaData, Select, Update, create_engine, event
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

# Stable constraint names so Alembic migrations are identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """The current time as an aware UTC datetime (all stored times are UTC)."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always returned timezone-aware.

    SQLite keeps no zone, so naive values read back are UTC by construction.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use item_bank.db.utcnow()")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}  # noqa: RUF012


_SQLITE_BEGIN_OPTION = "sqlite_begin"
SQLITE_BUSY_TIMEOUT_MS = 30000
# How long a writer waits for SQLite's write lock by polling (see _begin_immediate_cooperatively).
SQLITE_LOCK_WAIT_S = 30.0


# An execution option for the statement that ends its transaction: on PostgreSQL its COMMIT is sent with it, in
# the same round trip; the transaction's commit then has nothing left to send. Elsewhere the commit does it.
COMMIT_WITH_STATEMENT = "commit_with_statement"
_PENDING_BEGIN = "pg.pending_begin"
_COMMITTED_WITH = "pg.committed_with_statement"
# The execution option of `read_one`'s connections: their transaction is one SELECT, sent without a BEGIN.
_SINGLE_READ = "single_read"
# An execution option for a statement composed once and run often (a save's, a rejoin's): on PostgreSQL it runs as
# a prepared statement of the connection, prepared in the round trip of its first run there (`_ServerPrepared`).
SERVER_PREPARED = "server_prepared"
_SERVER_PREPARED_STATE = "pg.server_prepared"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite gets WAL, synchronous=FULL, foreign keys and a busy timeout; on PostgreSQL a
    transaction's BEGIN travels with its first statement (`_begin_with_first_statement`)."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
    postgresql = url.startswith("postgresql")
    if postgresql:
        kwargs.setdefault("isolation_level", "AUTOCOMMIT")
    engine = create_engine(url, **kwargs)
    if postgresql and engine.dialect.driver == "psycopg2" and kwargs["isolation_level"] == "AUTOCOMMIT":
        _begin_with_first_statement(engine)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # pysqlite's own transaction handling defers BEGIN; we issue it ourselves (below)
            # so that a write transaction takes the lock at its start and never deadlocks.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # A transaction that will write asks for IMMEDIATE (`begin_write`): it waits its turn for the write
            # lock (busy_timeout) at its start. A deferred one that reads first and writes later fails at once
            # ("database is locked") if another connection wrote meanwhile: its snapshot is too old to upgrade.
            options = conn.get_execution_options()
            if options.get(_SINGLE_READ):
                return  # read_one: its SELECT runs alone (pysqlite's rollback is then a no-op without a statement)
            if options.get(_SQLITE_BEGIN_OPTION) == "IMMEDIATE":
                _begin_immediate_cooperatively(conn)
            else:
                conn.exec_driver_sql("BEGIN")

    return engine


def _begin_with_first_statement(engine: Engine) -> None:
    """Send each transaction's BEGIN in the same round trip as its first statement, on PostgreSQL (psycopg2).

    psycopg2 sends BEGIN as a query of its own before a transaction's first statement, and under gevent every
    round trip waits for a turn of the server's event loop: in a reconnect storm a save's four round trips (BEGIN,
    the locked read, the writes, COMMIT) were most of its time. The connections are in psycopg2's autocommit mode,
    and the transactions are ours: BEGIN is put in front of the first statement, and COMMIT or ROLLBACK is sent
    only when libpq says a transaction is open (it knows without a round trip), which also covers a connection
    returned to the pool. A statement run with `COMMIT_WITH_STATEMENT` carries its transaction's COMMIT.
    """
    dialect = engine.dialect
    idle = dialect.loaded_dbapi.extensions.TRANSACTION_STATUS_IDLE

    def do_begin(pooled: Any) -> None:
        # The raw connection is kept, not a flag: a record whose connection was replaced starts clean.
        pooled.info[_PENDING_BEGIN] = pooled.dbapi_connection
        pooled.info.pop(_COMMITTED_WITH, None)

    def end(pooled: Any, verb: str) -> None:
        raw = getattr(pooled, "dbapi_connection", pooled)
        try:
            info = pooled.info
        except (AttributeError, NotImplementedError):  # the first connect's ad hoc proxy keeps no info
            info = None
        if info is not None:
            info.pop(_PENDING_BEGIN, None)
            info.pop(_COMMITTED_WITH, None)
        if raw.info.transaction_status != idle:
            with raw.cursor() as cursor:
                cursor.execute(verb)

    dialect.do_begin = do_begin  # type: ignore[method-assign]
    dialect.do_commit = lambda pooled: end(pooled, "COMMIT")  # type: ignore[method-assign]
    dialect.do_rollback = lambda pooled: end(pooled, "ROLLBACK")  # type: ignore[method-assign]

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _with_begin(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                    executemany: bool) -> tuple[str, Any]:
        info = conn.connection.info
        if info.get(_COMMITTED_WITH) is cursor.connection:
            raise RuntimeError("a statement ran after its transaction's COMMIT was sent with an earlier one")
        if (context is not None and not executemany and isinstance(parameters, dict)
                and context.execution_options.get(SERVER_PREPARED)):
            statement = _ServerPrepared.on(info, cursor.connection).execute(statement, context)
        if info.get(_PENDING_BEGIN) is cursor.connection:
            del info[_PENDING_BEGIN]
            if context is not None and context.execution_options.get(_SINGLE_READ):
                pass  # read_one: the statement alone, so libpq sees no transaction and nothing is sent to end one
            elif executemany:
                cursor.execute("BEGIN")
            else:
                statement = "BEGIN;\n" + statement
        if context is not None and context.execution_options.get(COMMIT_WITH_STATEMENT):
            statement += ";\nCOMMIT"
            info[_COMMITTED_WITH] = cursor.connection
        return statement, parameters

    @event.listens_for(engine, "after_cursor_execute")
    def _prepared_now(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                      executemany: bool) -> None:
        if context is None or not context.execution_options.get(SERVER_PREPARED):
            return  # not the run that prepared them, which may have failed: only its own success says they are
        state = conn.connection.info.get(_SERVER_PREPARED_STATE)
        if state is not None and state.pending:
            state.prepared.update(state.pending)
            state.pending.clear()


# What a statement run with SERVER_PREPARED becomes: per part (statements joined by ";\n", as a locked read's are),
# its number among every such statement of this process, its PREPARE's parameter types and text with $1, $2 ...,
# and its parameters' names in that order. A handful of statements, each composed once (the store's), so this and
# each connection's prepared statements stay small.
_PREPARED_PARTS: dict[str, tuple[tuple[int, str, str], ...]] = {}
_PREPARED_NUMBERS = itertools.count()
_PYFORMAT = re.compile(r"%%|%\((\w+)\)s")
_TYPE_LENGTH = re.compile(r"\(\d+(?:,\s*\d+)?\)")


def _parameter_type(context: Any, name: str) -> str:
    """A parameter's type as SQLAlchemy binds it (an integer stays an integer where nothing else says what it is,
    as in a select list), without a length: a value too long fails as it would unprepared, never cut short.
    `unknown` (PostgreSQL infers it from where it is used) for a parameter SQLAlchemy has no type for."""
    compiled = getattr(context, "compiled", None)
    bind = compiled.binds.get(name) if compiled is not None else None
    if bind is None or bind.type._isnull:
        return "unknown"
    try:
        return _TYPE_LENGTH.sub("", context.dialect.type_compiler_instance.process(bind.type))
    except Exception:  # a type with no name in SQL of its own
        return "unknown"


def _parts(statement: str, context: Any) -> tuple[tuple[int, str, str], ...]:
    """Each part of `statement` (split at ";\n") as its number, its PREPARE's definition and its EXECUTE's arguments,
    worked out once for each statement text."""
    parts = _PREPARED_PARTS.get(statement)
    if parts is None:
        made = []
        for part in statement.split(";\n"):
            names: list[str] = []

            def numbered(match: re.Match[str], names: list[str] = names) -> str:
                name = match.group(1)
                if name is None:
                    return match.group(0)  # a literal %, still escaped: the whole text goes through the driver
                if name not in names:
                    names.append(name)
                return f"${names.index(name) + 1}"

            body = _PYFORMAT.sub(numbered, part)
            types = f"({', '.join(_parameter_type(context, name) for name in names)})" if names else ""
            arguments = f"({', '.join(f'%({name})s' for name in names)})" if names else ""
            made.append((next(_PREPARED_NUMBERS), f"{types} AS {body}", arguments))
        parts = _PREPARED_PARTS[statement] = tuple(made)
    return parts


@dataclass
class _ServerPrepared:
    """The statements prepared on one PostgreSQL connection (psycopg2), kept in its pool record's info.

    Parsing and planning a save's locked read and its writes took PostgreSQL more than its own work on the rows
    (0.43 against 0.15 ms for the read, 0.48 against 0.25 ms for the writes, measured on a warm connection), on the
    cores the servers share with it. A statement is sent as EXECUTE with its parameters, the driver quoting them as
    before; on its first run on a connection its PREPARE goes first, in the same round trip. A PREPARE outlives a
    failed transaction or not, depending on where the failure was: after one, this connection's statements are
    prepared again under new names (`generation`), never under a name that may be taken.
    """

    connection: Any
    generation: int = 0
    prepared: set[int] = field(default_factory=set)
    pending: set[int] = field(default_factory=set)

    @classmethod
    def on(cls, info: dict[str, Any], connection: Any) -> _ServerPrepared:
        state = info.get(_SERVER_PREPARED_STATE)
        if state is None or state.connection is not connection:  # a record whose connection was replaced
            state = info[_SERVER_PREPARED_STATE] = cls(connection)
        elif state.pending:  # the last run that prepared something failed: whether it did is unknown
            state.generation += 1
            state.prepared.clear()
            state.pending.clear()
        return state

    def execute(self, statement: str, context: Any) -> str:
        sent = []
        for number, definition, arguments in _parts(statement, context):
            name = f"exam_{self.generation}_{number}"
            if number not in self.prepared:
                sent.append(f"PREPARE {name}{definition}")
                self.pending.add(number)
            sent.append(f"EXECUTE {name}{arguments}")
        return ";\n".join(sent)


def read_one(engine: Engine, statement: Select[Any], params: dict[str, Any]) -> Row[Any] | None:
    """The one row (or None) of a SELECT run by itself, on a connection of its own: no BEGIN before it and so nothing
    to end after it. A single statement reads one snapshot without a transaction around it; with one, PostgreSQL
    took two round trips (BEGIN with the statement, ROLLBACK on return) and SQLite three statements. Every socket
    connect and candidate request checks its login this way, and a whole centre reconnects at once after a restart.
    """
    if not isinstance(statement, Select):
        raise ValueError("read_one runs a SELECT only: anything else belongs in a transaction")
    try:
        return _read_one(engine, statement, params)
    except DBAPIError as exc:
        # The pooled connection had died (a database restart): the pool has dropped it and those opened with it.
        # A read is safe to repeat, and a login check runs before any step that would repeat it for us.
        if not exc.connection_invalidated:
            raise
        return _read_one(engine, statement, params)


def _read_one(engine: Engine, statement: Select[Any], params: dict[str, Any]) -> Row[Any] | None:
    prepared = _prepared(engine.dialect, statement, ()) if engine.dialect.name == "sqlite" else None
    if prepared is not None:
        pooled = engine.raw_connection()
        try:
            rows = prepared.run(pooled.driver_connection, params)
        finally:
            pooled.close()
        return rows.one_or_none()
    with engine.connect() as connection:
        connection.execution_options(**{_SINGLE_READ: True, SERVER_PREPARED: True})
        return connection.execute(statement, params).one_or_none()


class PreparedRows(list[Any]):
    """A prepared SELECT's rows (each with the columns as attributes and `_asdict()`, as SQLAlchemy's rows have)."""

    def one_or_none(self) -> Any:
        if len(self) > 1:
            raise ValueError("more than one row where one or none was expected")
        return self[0] if self else None

    def scalar(self) -> Any:
        return self[0][0] if self else None


@dataclass(frozen=True)
class _Prepared:
    """A statement compiled once for SQLite and run on the driver's own connection.

    On SQLite a statement of a save or a rejoin takes a few microseconds, and SQLAlchemy's connection, execution
    context and result around it took several times that, paid for every answer of a whole centre while every other
    socket waited (issue 17). The parameters and columns go through the same type processors as SQLAlchemy's.
    """

    compiled: Any
    sql: str
    bind_processors: tuple[tuple[str, Callable[[Any], Any] | None], ...]
    result_processors: tuple[Callable[[Any], Any] | None, ...] | None  # None: not a SELECT
    row: type | None

    @classmethod
    def of(cls, statement: Any, dialect: Any, keys: tuple[str, ...]) -> _Prepared | None:
        """The prepared statement, or None where SQLAlchemy must run it: a SELECT of text whose columns have no
        names, or an INSERT or UPDATE that needs a default computed in Python or returns what it wrote."""
        if isinstance(statement, Select):
            columns = list(statement.selected_columns)
            if not columns or not all(isinstance(c.key, str) and c.key.isidentifier() and not c.key.startswith("_")
                                      for c in columns):
                return None
            compiled = statement.compile(dialect=dialect)
            results: tuple[Callable[[Any], Any] | None, ...] | None = tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns)
            row: type | None = namedtuple("PreparedRow", [column.key for column in columns])  # type: ignore[misc]
        elif isinstance(statement, (Insert, Update)):
            compiled = statement.compile(dialect=dialect, column_keys=list(keys))
            if compiled.insert_prefetch or compiled.update_prefetch or compiled.effective_returning:
                return None
            results, row = None, None
        else:
            return None
        if any(bind.expanding or bind.literal_execute for bind in compiled.binds.values()):
            return None
        binds = tuple((name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
                      for name in compiled.positiontup or ())
        return cls(compiled, compiled.string, binds, results, row)

    def run(self, driver_connection: sqlite3.Connection, params: dict[str, Any]) -> PreparedRows:
        """Run on `driver_connection` (in whatever transaction it is in): a SELECT's rows, nothing for a write.
        A driver error is raised as SQLAlchemy's (IntegrityError for a taken key, say)."""
        values = self.compiled.construct_params(params)
        args = [process(values[name]) if process else values[name] for name, process in self.bind_processors]
        try:
            cursor = driver_connection.execute(self.sql, args)
            found = cursor.fetchall() if self.row is not None else []
        except sqlite3.Error as exc:
            raise DBAPIError.instance(self.sql, args, exc, sqlite3.Error) from exc
        rows = PreparedRows()
        if self.row is not None and self.result_processors is not None:
            processors, make = self.result_processors, self.row
            rows.extend(make(*[process(value) if process else value
                               for process, value in zip(processors, one, strict=True)]) for one in found)
        return rows


# Statements by their id and the dialect's (with the statement itself, so its id is never another's), and for a
# write the names of its parameters: the store's statements are composed once, at import.
_PREPARED: dict[tuple[int, int, tuple[str, ...]], tuple[Any, _Prepared | None]] = {}


def _prepared(dialect: Any, statement: Any, keys: tuple[str, ...]) -> _Prepared | None:
    key = (id(statement), id(dialect), keys)
    cached = _PREPARED.get(key)
    if cached is None or cached[0] is not statement:
        cached = _PREPARED[key] = (statement, _Prepared.of(statement, dialect, keys))
    return cached[1]


def run_prepared(connection: Connection, statement: Any, params: dict[str, Any]) -> PreparedRows | None:
    """Run `statement` prepared on an SQLite connection's driver connection, in its transaction (`_Prepared`): a
    SELECT's rows, an empty list for a write; None where SQLAlchemy must run it (another database, or a statement
    `_Prepared.of` leaves to it). For statements composed once (a cache holds each)."""
    if connection.dialect.name != "sqlite":
        return None
    keys = () if isinstance(statement, Select) else tuple(params)
    prepared = _prepared(connection.dialect, statement, keys)
    if prepared is None:
        return None
    return prepared.run(connection.connection.driver_connection, params)


def driver_cursor(connection: Any) -> Any:
    """A DBAPI cursor in `connection`'s transaction, for the few reads and COPYs that bypass SQLAlchemy's rows.

    On PostgreSQL a transaction's BEGIN waits for its first statement (`_begin_with_first_statement`); a raw
    cursor's statement would otherwise run outside it, so a BEGIN still waiting is sent first. `connection` is
    in a transaction (a session's `connection()` is).
    """
    pooled = connection.connection
    raw = pooled.driver_connection
    if pooled.info.get(_PENDING_BEGIN) is raw:
        del pooled.info[_PENDING_BEGIN]
        with raw.cursor() as cursor:
            cursor.execute("BEGIN")
    return raw.cursor()


def _begin_immediate_cooperatively(conn: Any) -> None:
    """BEGIN IMMEDIATE on an SQLAlchemy connection (its `begin` event): `_begin_immediate_on` its driver connection,
    between two of its engine's group commits if it has any (`GroupCommit.begin_outside`)."""
    commits = _GROUP_COMMITS.get(conn.engine)
    if commits is None:
        _begin_immediate_on(conn.connection.dbapi_connection)
    else:
        commits.begin_outside(conn.connection.dbapi_connection)


def _begin_immediate_on(raw: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE, waiting for another writer in Python rather than in SQLite's busy handler.

    SQLite waits for its lock inside one C call; under gevent (the exam server) that call holds the whole process,
    so a job worker's write transaction froze every candidate's socket, pings and reads included, not only the
    saves that need the lock. Asking without waiting and sleeping between tries (time.sleep yields to other
    greenlets, and to other threads) lets the rest of the server go on; after SQLITE_LOCK_WAIT_S the usual busy
    timeout takes over and its error (raised as SQLAlchemy's) is the one raised.
    """
    deadline = time.monotonic() + SQLITE_LOCK_WAIT_S
    delay = 0.001
    raw.execute("PRAGMA busy_timeout=0")
    try:
        while time.monotonic() < deadline:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise DBAPIError.instance("BEGIN IMMEDIATE", (), exc, sqlite3.Error) from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.01)
    finally:
        raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    _execute(raw, "BEGIN IMMEDIATE")


def begin_write(session: Session) -> None:
    """Start the session's next transaction as a writer: on SQLite it takes the write lock at its first statement
    (waiting up to the busy timeout for another writer to finish), so a step that reads and then writes never
    fails on a snapshot another connection has moved past. Does nothing inside an open transaction, and nothing
    on other databases (PostgreSQL locks rows with FOR UPDATE instead)."""
    if isinstance(session, DirectWriteSession) and session.in_direct_write:
        raise RuntimeError("begin_write while the session holds a direct write: commit or roll it back first")
    if session.in_transaction():
        return
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        session.connection(execution_options={_SQLITE_BEGIN_OPTION: "IMMEDIATE"})


_WAITS: Any = None  # a threading.local, made at first use (by then gevent has patched threading into greenlet-local)


def _add_wait(since: float) -> None:
    global _WAITS
    if _WAITS is None:
        _WAITS = threading.local()
    _WAITS.seconds = getattr(_WAITS, "seconds", 0.0) + time.perf_counter() - since


def waited_for_writes() -> float:
    """Seconds this thread (under gevent: this greenlet) has spent waiting for SQLite's write lock or for a group's
    COMMIT (`GroupCommit`), in all: time in which it did no work (the burst gate does not count it as a cost)."""
    return getattr(_WAITS, "seconds", 0.0) if _WAITS is not None else 0.0


class _Group:
    """One SQLite write transaction that the direct writes of a moment share, and its outcome once committed."""

    def __init__(self, pooled: Any) -> None:
        self.pooled = pooled
        self.members = itertools.count(1)
        self.committed = threading.Event()
        self.error: DBAPIError | None = None


class _Member:
    """A session's part of a group: its statements, inside a savepoint of the group's transaction."""

    def __init__(self, commits: GroupCommit, group: _Group, savepoint: str, *, first: bool) -> None:
        self.commits, self.group, self.savepoint, self.first = commits, group, savepoint, first

    @property
    def driver(self) -> sqlite3.Connection:
        return self.group.pooled.driver_connection  # type: ignore[no-any-return]

    def outcome(self) -> None:
        """Wait until the group's transaction has ended; raise its COMMIT's error if that failed."""
        since = time.perf_counter()
        self.group.committed.wait()
        _add_wait(since)
        if self.group.error is not None:
            raise self.group.error


# How often a writer outside the groups (`GroupCommit.begin_outside`) asks again for the lock when no group's COMMIT
# has handed it over.
ASK_AGAIN_S = 0.05


class _Outside:
    """A writer outside the groups waiting in line for SQLite's write lock, and whether a COMMIT began it."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw
        self.begun = threading.Event()
        self.error: DBAPIError | None = None


class GroupCommit:
    """Group commit of one engine's direct writes (`DirectWriteSession`), as databases do for their own log.

    A saved answer's statements take microseconds; its COMMIT, with the fsync that makes it durable (synchronous=FULL),
    took most of a save's time in SQLite, and a saturated server paid it once per answer (issue 17). Here the direct
    writes that arrive together share one transaction: each runs its statements inside a savepoint of its own (a
    failed one is rolled back alone), one at a time, and the first, once its own part is done, lets the others that
    are ready join (one turn of the event loop under gevent), then commits them all with one fsync. Nobody learns
    the outcome before that COMMIT: a session's `commit()` and `rollback()` wait for it, so an acknowledgement is
    never sent for a write that could still be lost, nor built on a read of one. At light load a group is one write
    and the wait is one turn of the loop. The process's other writers (a submit's or a proctor's ORM transaction) wait
    in line and a group's COMMIT begins the first of them before another group can begin (`begin_outside`): under a
    stream of saves the lock was otherwise hardly ever free when such a writer asked for it (a room's starts, then
    ORM transactions, took the whole sitting of the saturation benchmark).
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._turn = threading.Lock()  # one member at a time on the group's connection, and none during its COMMIT
        self._open: _Group | None = None
        self._outside: deque[_Outside] = deque()  # writers outside the groups, waiting for the lock

    def _take_turn(self) -> None:
        if not self._turn.acquire(timeout=SQLITE_LOCK_WAIT_S):
            # As long as a writer of another connection may hold the lock: the same error as its busy timeout.
            error = sqlite3.OperationalError("database is locked")
            raise DBAPIError.instance("BEGIN IMMEDIATE", (), error, sqlite3.Error) from error

    def join(self) -> _Member:
        """A new member, in the open group or in one begun now (BEGIN IMMEDIATE, waiting for another writer)."""
        since = time.perf_counter()
        self._take_turn()
        try:
            group, first = self._open, False
            if group is None:
                pooled = self._engine.raw_connection()
                try:
                    _begin_immediate_on(pooled.driver_connection)
                except BaseException:
                    pooled.close()
                    raise
                group, first = _Group(pooled), True
                self._open = group
            savepoint = f"member_{next(group.members)}"
            _add_wait(since)
            _execute(group.pooled.driver_connection, f"SAVEPOINT {savepoint}")
        except BaseException:
            self._turn.release()
            raise
        return _Member(self, group, savepoint, first=first)

    def leave(self, member: _Member, *, keep: bool) -> None:
        """End `member`'s part (kept, or rolled back alone); the group's first member then commits the group."""
        try:
            if not keep:
                _execute(member.driver, f"ROLLBACK TO {member.savepoint}")
            _execute(member.driver, f"RELEASE {member.savepoint}")
        finally:
            self._turn.release()
            if member.first:
                self._commit(member.group)

    def begin_outside(self, raw: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE on `raw`, a connection of this engine outside the groups (a submit's or a proctor's ORM
        transaction). With no group open it begins at once; else it waits in line, and each group's COMMIT begins the
        first writer in line before the next group can (so a stream of saves never starves it). Without a next group
        to hand it over, a writer asks again every `ASK_AGAIN_S`."""
        waiting, since = _Outside(raw), time.perf_counter()
        try:
            while not waiting.begun.is_set():  # not yet handed over (then the next group holds the turn till it ends)
                self._take_turn()
                try:
                    if waiting.begun.is_set():
                        break
                    if self._open is None:
                        if waiting in self._outside:
                            self._outside.remove(waiting)
                        _begin_immediate_on(raw)  # waits only for another process's writer
                        _add_wait(since)
                        return
                    if waiting not in self._outside:
                        self._outside.append(waiting)
                finally:
                    self._turn.release()
                waiting.begun.wait(ASK_AGAIN_S)
        except BaseException:  # interrupted (a greenlet killed, a timeout): out of the line, or its transaction ended
            self._leave_line(waiting)
            raise
        _add_wait(since)
        if waiting.error is not None:
            raise waiting.error

    def _leave_line(self, waiting: _Outside) -> None:
        """A writer in line that will not go on: out of the line, or, if a COMMIT began it meanwhile, its transaction
        rolled back (a connection nobody uses must not keep the lock from everyone)."""
        self._take_turn()
        try:
            if waiting in self._outside:
                self._outside.remove(waiting)
            elif waiting.begun.is_set() and waiting.error is None:
                waiting.raw.rollback()
        finally:
            self._turn.release()

    def _hand_over(self) -> None:
        """Begin the transaction of the first writer in line (`begin_outside`); under the turn, between two groups."""
        waiting = self._outside.popleft()
        try:
            _begin_immediate_on(waiting.raw)
        except DBAPIError as exc:
            waiting.error = exc
        except sqlite3.Error as exc:  # its connection was closed meanwhile, say: the writer learns it, not the group
            waiting.error = DBAPIError.instance("BEGIN IMMEDIATE", (), exc, sqlite3.Error)
        finally:
            waiting.begun.set()

    def _let_others_join(self) -> None:
        time.sleep(0)  # the writes ready now (greenlets, or threads) run and join before the COMMIT

    def _commit(self, group: _Group) -> None:
        try:
            self._let_others_join()
        finally:
            with self._turn:  # waits for a member still at its statements
                self._open = None
                driver = group.pooled.driver_connection
                try:
                    if not driver.in_transaction:  # SQLite rolled all of it back (a full disk, say): none is kept
                        raise sqlite3.OperationalError("the shared write transaction was rolled back")
                    driver.commit()
                except sqlite3.Error as exc:
                    group.error = DBAPIError.instance("COMMIT", (), exc, sqlite3.Error)
                finally:
                    group.pooled.close()  # back to the pool, which rolls back whatever a failed commit left open
                    group.committed.set()
                if self._outside:
                    self._hand_over()


def _execute(driver: sqlite3.Connection, sql: str) -> None:
    try:
        driver.execute(sql)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, (), exc, sqlite3.Error) from exc


_GROUP_COMMITS: weakref.WeakKeyDictionary[Engine, GroupCommit] = weakref.WeakKeyDictionary()
_GROUP_COMMITS_MADE = threading.Lock()


def group_commit(engine: Engine) -> GroupCommit:
    """The group commit of `engine`'s direct writes (one for each engine of the process)."""
    commits = _GROUP_COMMITS.get(engine)
    if commits is None:
        with _GROUP_COMMITS_MADE:
            commits = _GROUP_COMMITS.setdefault(engine, GroupCommit(engine))
    return commits


class DirectWriteSession(Session):
    """A session that may also hold a *direct write*: prepared statements (`run_direct`) run on the driver connection
    of an SQLite write transaction (BEGIN IMMEDIATE) that the session does not own: the engine's group commit
    (`GroupCommit`) shares it between the direct writes that arrive together, each in a savepoint of its own.

    A save is exam day's commonest write. Its statements already ran prepared on the driver's connection
    (`_Prepared`); the session's transaction and SQLAlchemy connection around them, begun, committed and closed for
    every answer, then cost about a sixth of a saturated server's time (issue 17). A direct write skips them.

    The session's own verbs end it: `commit()` keeps its statements and `rollback()` undoes them, and both return once
    the group's COMMIT has made them durable or failed (its error is raised); `close()` undoes them without waiting.
    So every path that ends a step's work ends its direct write too. While one is open, the session's own statements
    would run on another connection, outside it: a read sees what was committed before it began, and a write would
    wait for the lock it holds. `begin_write` and a flush with changes refuse instead.
    """

    _direct: _Member | None = None  # the session's part of the open group

    def direct_write(self) -> sqlite3.Connection | None:
        """The driver connection of the open direct write, or of a new one begun now; None where there can be none:
        a database other than SQLite, or the session's own transaction is open (a step then writes in that)."""
        member = self._direct
        if member is not None:
            return member.driver
        if self._transaction is not None:
            return None
        bind = self.get_bind()
        if bind.dialect.name != "sqlite":
            return None
        member = self._direct = group_commit(bind.engine).join()
        return member.driver

    @property
    def in_direct_write(self) -> bool:
        return self._direct is not None

    def _end_direct_write(self, *, commit: bool, wait: bool = True) -> None:
        member, self._direct = self._direct, None
        if member is None:
            return
        member.commits.leave(member, keep=commit)
        if wait:
            member.outcome()

    def commit(self) -> None:
        if self._direct is not None:
            self._end_direct_write(commit=True)
            if self._transaction is None and not (self.new or self.dirty or self.deleted):
                return  # nothing of the session's own to commit: no transaction begun only to be ended
        super().commit()

    def rollback(self) -> None:
        try:
            self._end_direct_write(commit=False)
        finally:
            super().rollback()

    def close(self) -> None:
        try:
            self._end_direct_write(commit=False, wait=False)  # nothing after a close reports on what it read
        finally:
            super().close()

    def invalidate(self) -> None:
        try:
            self._end_direct_write(commit=False, wait=False)
        finally:
            super().invalidate()

    def flush(self, objects: Any = None) -> None:
        if self._direct is not None and (self.new or self.dirty or self.deleted):
            raise RuntimeError("an ORM flush while the session holds a direct write: commit or roll it back first")
        super().flush(objects)


def run_direct(session: Session, statement: Any, params: dict[str, Any], *, begin: bool = False
               ) -> PreparedRows | None:
    """Run `statement` prepared in the session's direct write (`DirectWriteSession`), begun first if `begin`: a
    SELECT's rows, an empty list for a write; None when the session holds none and none was begun (another database,
    another kind of session, or its own transaction is open). For statements composed once (a cache holds each)."""
    if not isinstance(session, DirectWriteSession) or not (begin or session.in_direct_write):
        return None
    driver = session.direct_write()
    if driver is None:
        return None
    dialect = session.get_bind().dialect
    prepared = _prepared(dialect, statement, () if isinstance(statement, Select) else tuple(params))
    if prepared is None:  # it would run on another connection, outside the direct write
        raise RuntimeError(f"a statement that cannot run prepared, in a direct write: {statement}")
    return prepared.run(driver, params)


def make_session_factory(engine: Engine) -> sessionmaker[DirectWriteSession]:
    return sessionmaker(bind=engine, expire_on_commit=False, class_=DirectWriteSession)


@contextmanager
def transaction(session: Session, *, dry_run: bool = False) -> Iterator[Session]:
    """Commit what the block did, or roll all of it back if it raises (or if it was a `dry_run`)."""
    try:
        yield session
        if dry_run:
            session.rollback()
        else:
            session.commit()
    except BaseException:
        session.rollback()
        raise
