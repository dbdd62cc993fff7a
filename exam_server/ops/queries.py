"""The audit log read back: rows of `audit_event` filtered by actor, action, entity, entity id, a time range (dates
and times in Beijing time) and free text, newest first, a page at a time."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import String, and_, cast, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from exam_server.core.timefmt import DISPLAY_ZONE
from item_bank.audit import AuditEvent

PER_PAGE = 50
FIELD_MAX = 120  # longer than any stored actor / action / entity / id: a longer search matches nothing anyway


class AuditQueryError(ValueError):
    """A filter that cannot be read (a malformed date); its message is Chinese."""


def _parse_time(value: str, *, end: bool) -> dt.datetime | None:
    """A Beijing date ("2026-12-06") or date and time ("2026-12-06T09:30", "2026-12-06 09:30") as UTC; a bare
    date ending a range means the end of that day."""
    value = value.strip()
    if not value:
        return None
    try:
        if len(value) <= 10:
            day = dt.date.fromisoformat(value)
            moment = dt.datetime.combine(day + dt.timedelta(days=1) if end else day, dt.time())
        else:
            moment = dt.datetime.fromisoformat(value.replace(" ", "T"))
            if end:
                moment += dt.timedelta(minutes=1)  # "until 09:30" includes the rows of 09:30
    except ValueError as exc:
        raise AuditQueryError(f"时间“{value}”格式不正确，应为 2026-12-06 或 2026-12-06 09:30。") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=DISPLAY_ZONE)
    return moment.astimezone(dt.UTC)


@dataclass(frozen=True)
class AuditQuery:
    """What the audit page was asked for; also the params of an export job (plain JSON)."""

    actor: str = ""
    action: str = ""
    entity: str = ""
    entity_id: str = ""
    since: str = ""
    until: str = ""
    text: str = ""
    page: int = 1

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> AuditQuery:
        def field(name: str) -> str:
            return str(args.get(name) or "").strip()[:FIELD_MAX]

        try:
            page = max(1, min(int(args.get("page") or 1), 1_000_000))
        except (TypeError, ValueError):
            page = 1
        query = cls(actor=field("actor"), action=field("action"), entity=field("entity"),
                    entity_id=field("entity_id"), since=field("since"), until=field("until"),
                    text=str(args.get("q") or args.get("text") or "").strip()[:200], page=page)
        query.bounds()  # refuse a malformed date now
        return query

    def bounds(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        return _parse_time(self.since, end=False), _parse_time(self.until, end=True)

    def filters(self) -> dict[str, str]:
        """The filters as the export job's params (no page)."""
        values = asdict(self)
        values.pop("page")
        return values

    def as_args(self, **changes: Any) -> dict[str, Any]:
        """URL arguments of this query with `changes` (None drops one), for links."""
        values = {**asdict(self), **changes}
        values["q"] = values.pop("text")
        return {k: v for k, v in values.items() if v not in (None, "") and not (k == "page" and v == 1)}

    @property
    def is_filtered(self) -> bool:
        return any(self.filters().values())


def _contains(column: Any, value: str) -> Any:
    return func.lower(column).contains(value.lower(), autoescape=True)


def filtered(query: AuditQuery) -> Select[tuple[AuditEvent]]:
    """The rows `query` asks for, newest first."""
    statement = select(AuditEvent)
    if query.actor:
        statement = statement.where(_contains(AuditEvent.actor, query.actor))
    if query.action:
        statement = statement.where(_contains(AuditEvent.action, query.action))
    if query.entity:
        statement = statement.where(func.lower(AuditEvent.entity) == query.entity.lower())
    if query.entity_id:
        statement = statement.where(AuditEvent.entity_id == query.entity_id)
    since, until = query.bounds()
    if since is not None:
        statement = statement.where(AuditEvent.at >= since)
    if until is not None:
        statement = statement.where(AuditEvent.at < until)
    if query.text:
        # before/after are stored as JSON text with non-ASCII characters escaped (\u4e2d...): look for the text
        # as written and as JSON writes it.
        escaped = json.dumps(query.text)[1:-1]
        columns = [AuditEvent.actor, AuditEvent.action, AuditEvent.entity, AuditEvent.entity_id, AuditEvent.reason]
        json_columns = [cast(AuditEvent.before, String), cast(AuditEvent.after, String)]
        terms = [_contains(c, query.text) for c in columns + json_columns]
        if escaped != query.text:
            terms += [_contains(c, escaped) for c in json_columns]
        statement = statement.where(or_(*terms))
    return statement.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())


@dataclass
class AuditPage:
    query: AuditQuery
    rows: list[AuditEvent]
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PER_PAGE))


def count_matching(session: Session, query: AuditQuery) -> int:
    return int(session.scalar(select(func.count()).select_from(filtered(query).order_by(None).subquery())) or 0)


def audit_page(session: Session, query: AuditQuery) -> AuditPage:
    rows = list(session.scalars(filtered(query).limit(PER_PAGE).offset((query.page - 1) * PER_PAGE)))
    return AuditPage(query, rows, count_matching(session, query))


EXPORT_BATCH = 1000


def audit_rows(session: Session, query: AuditQuery, limit: int) -> Iterator[AuditEvent]:
    """The rows of `query` (at most `limit`), newest first, read in batches for an export.

    Each batch starts after the last row of the one before, in the query's order (time, then id): a server-side
    cursor would hold one transaction open for the whole export, and PostgreSQL's connections here run their
    transactions themselves (item_bank.db), which psycopg2's named cursors refuse.
    """
    statement = filtered(query)
    left = limit
    last: AuditEvent | None = None
    while left > 0:
        batch = statement
        if last is not None:
            batch = batch.where(or_(AuditEvent.at < last.at, and_(AuditEvent.at == last.at, AuditEvent.id < last.id)))
        size = min(EXPORT_BATCH, left)
        rows = list(session.scalars(batch.limit(size)))
        yield from rows
        if len(rows) < size:
            return
        left -= len(rows)
        last = rows[-1]


def entities(session: Session) -> list[str]:
    """The kinds of entity that have audit rows, for the page's drop-down."""
    return sorted(session.scalars(select(AuditEvent.entity).distinct()))
