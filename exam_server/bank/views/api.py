"""The bank's JSON API: the same operations as the screens, for scripts and the editor's live preview."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.bank import operations as ops
from exam_server.bank import queries
from exam_server.bank.schemas import DraftError, draft_from_json, item_json, version_json
from exam_server.bank.views.common import (
    AUTHORS,
    BANK,
    REVIEWERS,
    candidate_view,
    item_or_404,
    json_refusal,
    problem_json,
    stimulus,
    version_or_404,
    who,
)
from exam_server.bank.views.items import duplicates_of
from exam_server.core.auth import role_required
from exam_server.extensions import db
from item_bank.duplicates import Match
from item_bank.models import Item
from item_bank.review import ReviewError
from item_bank.search import ItemQuery, search_items
from item_bank.versions import ItemError, ItemValidationError, draft_warnings, history, validate_draft


@role_required(*BANK)
def api_items() -> WerkzeugResponse:
    result = search_items(db.session, ItemQuery.from_args(request.args))
    return jsonify(
        {
            "total": result.total,
            "total_is_lower_bound": result.more,
            "page": result.query.page,
            "per_page": result.query.per_page,
            "elapsed_ms": round(result.elapsed_ms, 1),
            "items": [
                {
                    "id": r.external_id,
                    "version_id": r.version_id,
                    "version_no": r.version_no,
                    "status": r.status,
                    "type": r.type,
                    "stem": r.stem,
                    "levels": r.levels,
                    "knowledge_area_id": r.area_id,
                    "knowledge_area": result.area_names.get(r.area_id or 0),
                    "author_id": r.author_id,
                }
                for r in result.rows
            ],
        }
    )


@role_required(*BANK)
def api_item(external_id: str) -> WerkzeugResponse:
    item = item_or_404(external_id)
    return jsonify(item_json(item, history(db.session, item)))


def _api_save(item: Item | None) -> tuple[WerkzeugResponse, int]:
    data = request.get_json(silent=True)
    try:
        draft = draft_from_json(data)
        version = ops.save_item(
            db.session,
            draft,
            who(),
            item=item,
            base_version_id=(data or {}).get("base_version_id"),
            submit=bool((data or {}).get("submit")),
        )
    except DraftError as exc:
        return json_refusal(str(exc), 400, field=exc.field)
    except ItemValidationError as exc:
        return json_refusal(str(exc), 422, problems=problem_json(exc.problems))
    except (ItemError, ReviewError) as exc:
        return json_refusal(str(exc), 409)
    body = {
        "ok": True,
        "id": version.item.external_id,
        "version": version_json(version),
        "duplicates": duplicate_json(duplicates_of(version, version.item_id)),
        "warnings": problem_json(draft_warnings(db.session, draft, version.item_id)),
    }
    return jsonify(body), 201 if item is None else 200


@role_required(*AUTHORS)
def api_create() -> tuple[WerkzeugResponse, int]:
    return _api_save(None)


@role_required(*AUTHORS)
def api_revise(external_id: str) -> tuple[WerkzeugResponse, int]:
    return _api_save(item_or_404(external_id))


@role_required(*BANK)
def api_transition(version_id: int) -> tuple[WerkzeugResponse, int]:
    version = version_or_404(version_id)
    data = request.get_json(silent=True) or {}
    try:
        ops.review(db.session, version, str(data.get("action", "")), who(), str(data.get("comment", "")))
    except ReviewError as exc:
        return json_refusal(str(exc), 409)
    return jsonify({"ok": True, "version": version_json(version)}), 200


@role_required(*REVIEWERS)
def api_bulk() -> tuple[WerkzeugResponse, int]:
    data = request.get_json(silent=True) or {}
    ids = [int(v) for v in data.get("version_ids", []) if isinstance(v, int)]
    try:
        result = ops.bulk_review(
            db.session, ids, str(data.get("action", "")), who(), str(data.get("comment", ""))
        )
    except ReviewError as exc:
        return json_refusal(str(exc), 409)
    refused = [{"version_id": v, "reason": r} for v, r in result.refused]
    return jsonify({"ok": True, "done": result.done, "refused": refused}), 200


def duplicate_json(matches: list[Match]) -> list[dict[str, Any]]:
    return [
        {
            "id": m.external_id,
            "score": round(m.score, 2),
            "exact": m.exact,
            "url": url_for("bank.item_detail", external_id=m.external_id),
            "message": f"疑似与 {m.external_id} 重复（相似度 {m.score:.2f}）",
        }
        for m in matches
    ]


@role_required(*BANK)
def api_preview() -> tuple[WerkzeugResponse, int]:
    """The candidate's view of an unsaved draft, every problem with it and the bank items it copies or resembles
    (the editor's live preview; `item` names the item being edited, which is no duplicate of itself)."""
    data = request.get_json(silent=True)
    try:
        draft = draft_from_json(data)
    except DraftError as exc:
        return json_refusal(str(exc), 400, field=exc.field)
    editing = queries.item_by_external_id(db.session, str((data or {}).get("item") or ""))
    problems = validate_draft(db.session, draft)
    # The item being edited is left out of its set's other children (changing its own type is no mix).
    warnings = draft_warnings(db.session, draft, editing.id if editing else None)
    view: dict[str, Any] | None
    try:
        view = candidate_view(draft)
    except (KeyError, IndexError, TypeError, ValueError):
        view = None  # a draft too broken to render; its problems say why
    duplicates = duplicate_json(duplicates_of(draft, editing.id if editing else None))
    return jsonify(
        {
            "ok": True,
            "view": view,
            "stimulus": stimulus(draft),
            "problems": problem_json(problems),
            "warnings": problem_json(warnings),
            "duplicates": duplicates,
        }
    ), 200


@role_required(*BANK)
def api_areas() -> WerkzeugResponse:
    rows = queries.area_rows(db.session, request.args.get("level", type=int))
    return jsonify(
        [
            {
                "id": r.area.id,
                "code": r.area.code,
                "name": r.area.name,
                "path": r.path,
                "depth": r.depth,
                "level": r.area.level,
                "part": r.area.part,
                "kind": r.area.kind,
                "weight": r.weight,
                "counts": r.counts,
            }
            for r in rows
        ]
    )
