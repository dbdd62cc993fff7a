"""What every bank screen shares: who is asking, lookups that answer 404, the candidate's view of an item."""

from __future__ import annotations

from typing import Any

from flask import abort, jsonify, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.bank import operations as ops
from exam_server.bank import queries
from exam_server.extensions import db
from item_bank.exchange.flat import TYPE_LABELS
from item_bank.models import Item, ItemSet, ItemVersion
from item_bank.review import Reviewer
from item_bank.types import ContentProblem, item_type, section_types
from item_bank.versions import ItemDraft, content_of

BANK = ops.BANK_ROLES
AUTHORS = ops.AUTHOR_ROLES
REVIEWERS = ops.REVIEW_ROLES
MANAGERS = ops.MANAGER_ROLES
EDIT_TYPES = section_types()


def who() -> Reviewer:
    return ops.reviewer_of(current_user)


def found(row: Any) -> Any:
    """`row`, or a 404 when the lookup found nothing."""
    if row is None:
        abort(404)
    return row


def item_or_404(external_id: str) -> Item:
    return found(queries.item_by_external_id(db.session, external_id))


def version_or_404(version_id: int) -> ItemVersion:
    return found(db.session.get(ItemVersion, version_id))


def media_refs(media: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Stored image references as links the browser can load."""
    return [{"name": m.get("name"), "url": url_for("bank.media", digest=m["sha256"])} for m in media or []]


def candidate_view(version: ItemVersion | ItemDraft) -> dict[str, Any]:
    """What a candidate would see of a version or draft (never its key)."""
    content = content_of(version) if isinstance(version, ItemVersion) else version.as_content()
    view = item_type(content.type).render(content)
    view["points"] = content.points
    view["type_label"] = TYPE_LABELS.get(content.type, content.type)
    for m in view.get("media", []):
        m["url"] = url_for("bank.media", digest=m["sha256"])
    return view


def set_stimulus(item_set: ItemSet) -> dict[str, Any]:
    return {"title": item_set.title, "stimulus": item_set.stimulus, "media": media_refs(item_set.media)}


def stimulus(version: ItemVersion | ItemDraft) -> dict[str, Any] | None:
    """The shared stimulus of the set a version belongs to, if any."""
    item_set = db.session.get(ItemSet, version.item_set_id) if version.item_set_id else None
    return set_stimulus(item_set) if item_set is not None else None


def problems_by_field(problems: list[ContentProblem]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in problems:
        out.setdefault(p.field, []).append(p.reason)
    return out


def problem_json(problems: list[ContentProblem]) -> list[dict[str, str]]:
    return [{"field": p.field, "reason": p.reason} for p in problems]


def json_refusal(message: str, status: int, **extra: Any) -> tuple[WerkzeugResponse, int]:
    """The bank API's refusal: `error` is the Chinese sentence its screens show."""
    return jsonify({"ok": False, "error": message, **extra}), status


def digits(value: str | None) -> int | None:
    """A form field that holds an id, or None when it is empty or not a number."""
    return int(value) if value and value.isdigit() else None


def safe_next(target: str) -> str | None:
    """A same-site path to return to, or None (never another host)."""
    return target if target.startswith("/") and not target.startswith("//") else None
