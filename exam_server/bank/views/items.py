"""Items: the search list, the editor (new item, new version), the detail page with its history, the diff."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.bank import operations as ops
from exam_server.bank import queries
from exam_server.bank.schemas import DraftError, draft_form_values, draft_from_form
from exam_server.bank.views.common import (
    AUTHORS,
    BANK,
    EDIT_TYPES,
    REVIEWERS,
    candidate_view,
    digits,
    item_or_404,
    problems_by_field,
    stimulus,
    who,
)
from exam_server.core.auth import role_required
from exam_server.extensions import db
from item_bank.attributes import COGNITIVE_LEVELS, definitions
from item_bank.diffs import diff_versions
from item_bank.duplicates import Match, find_duplicates
from item_bank.models import IN_REVIEW, Item, ItemVersion, KnowledgeArea
from item_bank.review import ReviewError, allowed_actions, comments_for
from item_bank.search import UNCLASSIFIED, ItemQuery, search_items, status_counts
from item_bank.types import ContentProblem, item_type
from item_bank.versions import (
    ItemDraft,
    ItemError,
    ItemValidationError,
    content_of,
    draft_warnings,
    form_usage,
    history,
)


@role_required(*BANK)
def items() -> str:
    query = ItemQuery.from_args(request.args)
    if request.args.get("mine") == "1":
        query.author_id = current_user.user.id
    result = search_items(db.session, query)
    return render_template(
        "bank/items.html",
        result=result,
        query=query,
        areas=queries.area_rows(db.session),
        counts=status_counts(db.session),
        authors=queries.user_names(db.session, (r.author_id for r in result.rows)),
        UNCLASSIFIED=UNCLASSIFIED,
    )


# ----- the editor -----


def duplicates_of(draft: ItemDraft | ItemVersion, item_id: int | None) -> list[Match]:
    """Bank items (other than `item_id`) that `draft` copies or resembles: the editor and the detail page flag them."""
    if not (draft.stem or "").strip():
        return []
    return find_duplicates(db.session, draft.stem, draft.content, draft.key, exclude_item=item_id)


def duplicate_note(matches: list[Match]) -> str:
    """The flash line of a save that resembles bank items."""
    return "；".join(f"疑似与 {m.external_id} 重复（相似度 {m.score:.2f}）" for m in matches)


def _editor(
    draft: ItemDraft,
    *,
    item: Item | None = None,
    base_version_id: int | None = None,
    problems: list[ContentProblem] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    return (
        render_template(
            "bank/editor.html",
            item=item,
            values=draft_form_values(draft),
            base_version_id=base_version_id,
            problems=problems_by_field(problems or []),
            problem_list=problems or [],
            areas=queries.area_rows(db.session),
            sets=queries.recent_sets(db.session),
            cognitive_levels=COGNITIVE_LEVELS,
            attribute_specs=definitions(db.session),
            preview=candidate_view(draft) if draft.stem else None,
            duplicates=duplicates_of(draft, item.id if item else None),
        ),
        status,
    )


@role_required(*AUTHORS)
def new_item() -> tuple[str, int]:
    item_type_name = request.args.get("type", "single")
    draft = ItemDraft(type=item_type_name if item_type_name in EDIT_TYPES else "single", stem="")
    if draft.type == "judge":
        draft.content["options"] = ["正确", "错误"]
    draft.knowledge_area_id = digits(request.args.get("area"))
    draft.item_set_id = digits(request.args.get("set"))
    return _editor(draft)


def _save(item: Item | None, retry_url: str) -> WerkzeugResponse | tuple[str, int]:
    """Save the posted editor as a new item or a new version of `item`, or show the editor again with why not."""
    base_version_id = digits(request.form.get("base_version_id"))
    try:
        draft = draft_from_form(request.form)
    except DraftError as exc:
        flash(str(exc))
        return redirect(retry_url)
    try:
        version = ops.save_item(
            db.session,
            draft,
            who(),
            item=item,
            base_version_id=base_version_id,
            submit=request.form.get("submit") == "1",
        )
    except ItemValidationError as exc:
        return _editor(draft, item=item, base_version_id=base_version_id, problems=exc.problems, status=422)
    except (ItemError, ReviewError) as exc:
        return _editor(draft, item=item, problems=[ContentProblem("-", str(exc))], status=409)
    submitted = "并提交审核" if version.status == IN_REVIEW else "（草稿）"
    if item is None:
        flash(f"已保存试题 {version.item.external_id} 第 {version.version_no} 版{submitted}")
    else:
        flash(f"已保存为第 {version.version_no} 版{submitted}")
    for warning in draft_warnings(db.session, draft, version.item_id):
        flash(f"注意：{warning.reason}")
    # Saved all the same (a variant may be wanted); the author and the reviewer see what it resembles.
    matches = duplicates_of(version, version.item_id)
    if matches:
        flash(duplicate_note(matches) + "，请核对")
    return redirect(url_for("bank.item_detail", external_id=version.item.external_id))


@role_required(*AUTHORS)
def create() -> WerkzeugResponse | tuple[str, int]:
    return _save(None, url_for("bank.new_item"))


@role_required(*AUTHORS)
def edit_item(external_id: str) -> tuple[str, int]:
    item = item_or_404(external_id)
    latest = history(db.session, item)[-1]
    return _editor(ItemDraft.from_version(latest), item=item, base_version_id=latest.id)


@role_required(*AUTHORS)
def revise(external_id: str) -> WerkzeugResponse | tuple[str, int]:
    return _save(item_or_404(external_id), url_for("bank.edit_item", external_id=external_id))


# ----- detail, history, diff -----


@role_required(*BANK)
def item_detail(external_id: str) -> str:
    item = item_or_404(external_id)
    versions = history(db.session, item)
    shown_no = request.args.get("v", "")
    shown = next((v for v in versions if str(v.version_no) == shown_no), versions[-1])
    me = who()
    area = db.session.get(KnowledgeArea, shown.knowledge_area_id) if shown.knowledge_area_id else None
    version_ids = [v.id for v in versions]
    comments = comments_for(db.session, version_ids)
    return render_template(
        "bank/item.html",
        item=item,
        versions=versions,
        shown=shown,
        view=candidate_view(shown),
        stimulus=stimulus(shown),
        area=area,
        actions=allowed_actions(shown, me),
        comments=comments,
        usage=form_usage(db.session, version_ids),
        # Comment authors too: a reviewer who returned a version is no version's reviewer.
        names=queries.user_names(
            db.session,
            [v.author_id for v in versions]
            + [v.reviewer_id for v in versions]
            + [c.author_id for notes in comments.values() for c in notes],
        ),
        can_edit=me.has_role(*AUTHORS) and any(v.status != "retired" for v in versions),
        can_tag=me.has_role(*REVIEWERS),
        areas=queries.area_rows(db.session) if me.has_role(*REVIEWERS) else [],
        problems=item_type(shown.type).validate(content_of(shown)),
        duplicates=duplicates_of(shown, item.id) if shown.status != "retired" else [],
    )


@role_required(*BANK)
def diff(external_id: str) -> str:
    item = item_or_404(external_id)
    versions: dict[int, ItemVersion] = {v.version_no: v for v in history(db.session, item)}
    newest = max(versions)
    b = versions.get(request.args.get("b", type=int) or newest) or versions[newest]
    a = versions.get(request.args.get("a", type=int) or max(1, b.version_no - 1)) or versions[1]
    return render_template(
        "bank/diff.html",
        item=item,
        a=a,
        b=b,
        diffs=diff_versions(db.session, a, b),
        versions=sorted(versions),
    )
