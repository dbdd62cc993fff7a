"""What the candidate sees: a locked form's items frozen once per process, and the paper rendered from them
in the candidate's item and option order, without any key; and which images an attempt may show."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from exam_server.core.timefmt import iso
from exam_server.delivery.clock import remaining_seconds, submit_opens_at
from exam_server.delivery.misconduct import describe_attempt
from exam_server.delivery.models import IN_PROGRESS, Attempt
from exam_server.sessions.models import ExamSession, SessionForm
from item_bank.db import utcnow
from item_bank.kernel import process_cache
from item_bank.models import Form, FormItem, ItemSet, ItemVersion
from item_bank.types import ItemContent, item_type


@dataclass(frozen=True)
class FrozenItem:
    item_version_id: int
    content: ItemContent
    points: float
    scoring_rule: str
    section: str
    # The shared stimulus of an item set (情景 / 案例): {"id", "title", "text", "media"}.
    stimulus: dict[str, Any] | None = None
    # The item as candidates see it, by option order: rendered once per process for a whole room
    # (it lives and dies with the cached form, and a locked form never changes).
    views: dict[tuple[str, ...], dict[str, Any]] = field(default_factory=dict, compare=False, repr=False)
    encoded: dict[tuple[str, ...], str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def media_digests(self) -> set[str]:
        refs = list(self.content.media) + list((self.stimulus or {}).get("media") or [])
        return {str(m.get("sha256")) for m in refs if m.get("sha256")}


# Locked forms by (database URL, form id): a database emptied for a test starts its ids again, so tests
# clear it (item_bank.kernel.clear_all).
FORM_CACHE = process_cache("delivery.forms")


def clear_form_cache() -> None:
    """Forget cached forms (only needed when a database is emptied and ids start again)."""
    FORM_CACHE.clear()


def form_items(session: Session, form_id: int) -> dict[int, FrozenItem]:
    """The form's items by version id. Locked forms never change, so they are cached per process."""
    cache_key = (str(session.get_bind().url), form_id)
    cached: dict[int, FrozenItem] | None = FORM_CACHE.get(cache_key)
    if cached is not None:
        return cached
    # A test site's form whose paper is still sealed holds placeholders until the release code is entered
    # (sitenode/package.py): never cache those. Asked before the items are read, so a reader that sees the
    # sitting unsealed reads the items unsealing wrote in the same transaction.
    sealed = session.scalar(select(exists().where(
        SessionForm.form_id == form_id, ExamSession.id == SessionForm.session_id, ExamSession.paper_sealed.is_(True))))
    rows = session.execute(
        select(FormItem, ItemVersion, ItemSet)
        .join(ItemVersion, FormItem.item_version_id == ItemVersion.id)
        .outerjoin(ItemSet, ItemVersion.item_set_id == ItemSet.id)
        .where(FormItem.form_id == form_id)
    ).all()
    items = {
        version.id: FrozenItem(
            item_version_id=version.id,
            content=ItemContent(
                type=version.type, stem=version.stem, content=version.content, key=version.key, points=fi.points,
                media=list(version.media or []),
            ),
            points=fi.points,
            scoring_rule=fi.scoring_rule,
            section=fi.section,
            stimulus=(
                {"id": item_set.id, "title": item_set.title, "text": item_set.stimulus,
                 "media": list(item_set.media or [])}
                if item_set is not None else None
            ),
        )
        for fi, version, item_set in rows
    }
    form = session.get(Form, form_id)
    if form is not None and form.status == "locked" and not sealed:
        FORM_CACHE[cache_key] = items
    return items


class _Sitting(Protocol):
    """What the paper's head reads of the sitting: an `ExamSession`, or a `queries.AttemptState` (which holds it)."""

    timing: str
    starts_at: dt.datetime
    min_submit_min: int


class _Paper(Protocol):
    """What the paper reads of an attempt: an ORM `Attempt`, or a start's `queries.AttemptState`."""

    id: int
    status: str
    deadline_at: dt.datetime | None
    remaining_s: float
    started_at: dt.datetime | None
    form_id: int
    item_order: list[Any]
    option_orders: dict[str, Any]
    submit_reason: str
    submit_note: str
    misconduct_code: str


class _PaperState(_Paper, _Sitting, Protocol):
    """A start's `queries.AttemptState`: the attempt's columns with its sitting's."""


def _attempt_head(attempt: _Paper, exam_session: _Sitting, now: dt.datetime) -> dict[str, Any]:
    opens = submit_opens_at(timing=exam_session.timing, starts_at=exam_session.starts_at,
                            started_at=attempt.started_at, min_submit_min=exam_session.min_submit_min)
    return {
        "attempt_id": attempt.id,
        "status": attempt.status,
        "remaining_s": round(remaining_seconds(attempt, now), 3),
        "server_now": iso(now),
        # When 交卷 becomes possible (the sitting's minimum time) and when the running clock ends, or null.
        "submit_opens_at": iso(opens),
        "ends_at": iso(attempt.deadline_at) if attempt.status == IN_PROGRESS else None,
        "submit_text": describe_attempt(attempt) if attempt.submit_reason == "proctor" else "",
        "items": [],
    }


def _base_view(frozen: FrozenItem, order: list[str] | None) -> dict[str, Any]:
    """The item as candidates with this option order see it (rendered once per process)."""
    base = frozen.views.get(tuple(order or ()))
    if base is None:
        base = item_type(frozen.content.type).render(frozen.content, order)
        base.update(item_id=frozen.item_version_id, points=frozen.points, section=frozen.section)
        frozen.views[tuple(order or ())] = base
    return base


def _is_attempt_specific(frozen: FrozenItem, base: dict[str, Any]) -> bool:
    """Image addresses are the attempt's own, so an item with images is rendered per attempt."""
    return bool(base.get("media")) or frozen.stimulus is not None


def _item_view(frozen: FrozenItem, base: dict[str, Any], attempt_id: int, number: int) -> dict[str, Any]:
    view = dict(base, number=number)
    if "media" in base:
        view["media"] = [dict(ref, url=media_url(attempt_id, ref["sha256"])) for ref in base["media"]]
    if frozen.stimulus is not None:
        view["stimulus"] = {
            "id": frozen.stimulus["id"], "title": frozen.stimulus["title"], "text": frozen.stimulus["text"],
            "media": [{"name": m.get("name", ""), "url": media_url(attempt_id, str(m.get("sha256")))}
                      for m in frozen.stimulus["media"] if m.get("sha256")],
        }
    return view


def render_attempt(session: Session, attempt: Attempt, now: dt.datetime | None = None) -> dict[str, Any]:
    """`GET /api/attempt`: the items in the candidate's order, without any key, only while in progress."""
    body = _attempt_head(attempt, attempt.session, now or utcnow())
    if attempt.status != IN_PROGRESS:
        return body
    items = form_items(session, attempt.form_id)
    for number, version_id in enumerate(attempt.item_order, start=1):
        frozen = items[version_id]
        base = _base_view(frozen, attempt.option_orders.get(str(version_id)))
        body["items"].append(_item_view(frozen, base, attempt.id, number))
    return body


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def render_attempt_json(session: Session, attempt: Attempt, now: dt.datetime | None = None) -> str:
    """`render_attempt` as JSON text, built from item fragments encoded once per process.

    The whole room asks for its paper in the same minute (the start burst); encoding a 100-item
    paper per candidate was most of that burst's cost, and each item's text is the same for every
    candidate who sees its options in the same order.
    """
    return _paper_json(session, attempt, attempt.session, now)


def state_paper_json(session: Session, state: _PaperState, now: dt.datetime | None = None) -> str:
    """`render_attempt_json` from a start's state (`queries.start_state`, which holds the sitting's columns
    too): the paper a start's acknowledgement carries, without reading the attempt again."""
    return _paper_json(session, state, state, now)


def _paper_json(session: Session, attempt: _Paper, exam_session: _Sitting, now: dt.datetime | None) -> str:
    head = _attempt_head(attempt, exam_session, now or utcnow())
    if attempt.status != IN_PROGRESS:
        return _compact(head)
    items = form_items(session, attempt.form_id)
    parts = []
    for number, version_id in enumerate(attempt.item_order, start=1):
        frozen = items[version_id]
        order = attempt.option_orders.get(str(version_id))
        base = _base_view(frozen, order)
        if _is_attempt_specific(frozen, base):
            parts.append(_compact(_item_view(frozen, base, attempt.id, number)))
            continue
        fragment = frozen.encoded.get(tuple(order or ()))
        if fragment is None:  # the view without its opening brace, to follow the candidate's number
            fragment = frozen.encoded[tuple(order or ())] = _compact(base)[1:]
        parts.append(f'{{"number":{number},{fragment}')
    encoded = _compact(head)
    assert encoded.endswith('"items":[]}')
    return encoded[:-2] + ",".join(parts) + "]}"


def media_url(attempt_id: int, digest: str) -> str:
    return f"/api/attempts/{attempt_id}/media/{digest}"


def attempt_may_show(session: Session, attempt: Attempt, digest: str) -> bool:
    """True when the image `digest` belongs to an item of this attempt's form and the attempt is running."""
    if attempt.status != IN_PROGRESS:
        return False
    return any(digest in frozen.media_digests for frozen in form_items(session, attempt.form_id).values())
