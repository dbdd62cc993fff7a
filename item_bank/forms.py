"""Form review and lifecycle (assembled → approved → locked → retired) and per-candidate ordering.

Locking freezes a form: its item versions, keys, points and order rules are snapshotted with a checksum,
and a flush-time guard refuses any later change to the form or its items (item_bank.versions refuses
changes to the versions a locked form uses). `candidate_order(form, seed)` gives one candidate's item
and option order, reproducible from the stored seed. `item_bank.form_review` measures a form for review.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from item_bank.audit import AuditEvent
from item_bank.blueprints import TYPE_LABELS
from item_bank.db import utcnow
from item_bank.kernel.errors import DomainError
from item_bank.kernel.states import StateMachine
from item_bank.models import (
    ASSEMBLED,
    FORM_APPROVED,
    FORM_RETIRED,
    LOCKED,
    Blueprint,
    Form,
    FormItem,
    ItemVersion,
)
from item_bank.types import item_type

STATUS_LABELS = {ASSEMBLED: "已组卷", FORM_APPROVED: "已审核", LOCKED: "已锁定", FORM_RETIRED: "已停用"}
# The action that moves a form into each state, and what staff call it.
ACTION_INTO = {FORM_APPROVED: "approve", ASSEMBLED: "return", LOCKED: "lock", FORM_RETIRED: "retire"}
ACTION_LABELS = {"approve": "审核通过", "return": "退回重组", "lock": "锁定", "retire": "停用"}
# The form lifecycle (DESIGN.md §4): (from, to) -> the action that makes the move.
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    (ASSEMBLED, FORM_APPROVED): frozenset({"approve"}),
    (ASSEMBLED, FORM_RETIRED): frozenset({"retire"}),
    (FORM_APPROVED, LOCKED): frozenset({"lock"}),
    (FORM_APPROVED, ASSEMBLED): frozenset({"return"}),
    (FORM_APPROVED, FORM_RETIRED): frozenset({"retire"}),
    (LOCKED, FORM_RETIRED): frozenset({"retire"}),
}
FROZEN_STATES = (LOCKED, FORM_RETIRED)
# Option texts that refer to other options ("以上都对") keep their place when options are shuffled.
PINNED_OPTION = re.compile(r"以上|上述|都不|均不|都对|均对|都是|均是|全部|都正确|均正确")


class FormStateError(DomainError, ValueError):
    """A form cannot make the requested change in its current state; names the form and state.

    `form_status` is the form's state (`status`, as on every DomainError, is the HTTP status).
    """

    default_code = "form_state"
    default_status = 409

    def __init__(self, form: Form, message: str) -> None:
        super().__init__(
            f"试卷 {form.code}（{STATUS_LABELS.get(form.status, form.status)}）: {message}",
            form=form.code,
            state=form.status,
        )
        self.form_code = form.code
        self.form_status = form.status


class FormLocked(FormStateError):
    """A change was attempted to a locked (frozen) form or to an item version it uses."""

    default_code = "form_locked"


FORM_LIFECYCLE = StateMachine(
    "试卷",
    TRANSITIONS,
    entity="form",
    state_labels=STATUS_LABELS,
    action_labels=ACTION_LABELS,
    refuse=lambda form, _action, current, target: FormStateError(
        form, f"不能从「{STATUS_LABELS.get(current, current)}」变为「{STATUS_LABELS.get(target, target)}」"
    ),
)


def transition(session: Session, form: Form, to: str, actor: str, reason: str = "") -> Form:
    """Move `form` to state `to` if the lifecycle allows it, with an audit row; flushes."""
    action = ACTION_INTO.get(to, to)
    FORM_LIFECYCLE.apply(session, form, action, to, actor, audit_action=f"form.{to}", reason=reason)
    session.flush()
    return form


def approve_form(session: Session, form: Form, actor: str, reason: str = "") -> Form:
    """Approve an assembled form after review (assembled → approved)."""
    return transition(session, form, FORM_APPROVED, actor, reason)


def return_form(session: Session, form: Form, actor: str, reason: str = "") -> Form:
    """Withdraw an approval (approved → assembled), e.g. to rework before locking."""
    return transition(session, form, ASSEMBLED, actor, reason)


def retire_form(session: Session, form: Form, actor: str, reason: str = "") -> Form:
    """Take a form out of use; a retired form stays frozen and keeps its history."""
    return transition(session, form, FORM_RETIRED, actor, reason)


def apply_action(session: Session, form: Form, action: str, actor: str, reason: str = "") -> Form:
    """One of staff's actions on a form by name (approve, return, lock, retire); the caller commits."""
    if action not in FORM_ACTIONS:
        raise FormStateError(form, f"未知操作 {action!r}")
    return FORM_ACTIONS[action](session, form, actor, reason)


def approver_of(session: Session, form: Form) -> str | None:
    """Who approved the form most recently (from the audit trail)."""
    return session.scalar(
        select(AuditEvent.actor)
        .where(AuditEvent.entity == "form", AuditEvent.entity_id == str(form.id), AuditEvent.action == "form.approved")
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )


def lock_form(session: Session, form: Form, actor: str, reason: str = "") -> Form:
    """Freeze an approved form: versions, keys, points and order rules.

    Like items, a paper needs two people: one approves it, another locks it (four eyes on what candidates
    will sit). The snapshot and its checksum are stored in the form's report under "lock"; `verify_lock`
    checks it.
    """
    if form.status == ASSEMBLED:
        raise FormStateError(form, "锁定前需要先审核通过；审核通过与锁定须由两个人分别完成")
    if form.status == FORM_APPROVED and approver_of(session, form) == actor:
        raise FormStateError(form, "本卷由您审核通过，须由另一位管理员锁定（审核与锁定不能是同一人）")
    if not FORM_LIFECYCLE.allows("lock", form.status, LOCKED):
        raise FormStateError(form, "只有审核通过的试卷可以锁定")
    snapshot = form_snapshot(session, form)
    report = dict(form.assembly_report or {})
    report["lock"] = {
        "at": utcnow().isoformat(),
        "by": actor,
        "checksum": _checksum(snapshot),
        "items": snapshot["items"],
        "order_rules": snapshot["order_rules"],
    }
    form.assembly_report = report
    form.locked_at = utcnow()
    return transition(session, form, LOCKED, actor, reason)


FORM_ACTIONS = {"approve": approve_form, "return": return_form, "lock": lock_form, "retire": retire_form}


def form_snapshot(session: Session, form: Form) -> dict[str, Any]:
    """What locking freezes: per position the version, key, points, rule; and the order rules."""
    items = []
    for fi in sorted(form.items, key=lambda x: x.position):
        v = session.get(ItemVersion, fi.item_version_id)
        assert v is not None
        items.append(
            {
                "position": fi.position,
                "item_version_id": fi.item_version_id,
                "section": fi.section,
                "points": fi.points,
                "scoring_rule": fi.scoring_rule,
                "key": v.key,
                "type": v.type,
                "item_set_id": v.item_set_id,
                "set_position": v.set_position,
            }
        )
    return {"items": items, "order_rules": section_rules(session, form)}


def _checksum(snapshot: dict[str, Any]) -> str:
    text = json.dumps(
        {"items": snapshot["items"], "order_rules": snapshot["order_rules"]},
        ensure_ascii=False,
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def verify_lock(session: Session, form: Form) -> bool:
    """True if a locked form still matches the snapshot taken when it was locked."""
    lock = (form.assembly_report or {}).get("lock")
    if not lock:
        return False
    snap = form_snapshot(session, form)
    snap["order_rules"] = lock.get("order_rules", snap["order_rules"])
    return _checksum(snap) == lock["checksum"]


def section_rules(session: Session, form: Form) -> list[dict[str, Any]]:
    """Per section, in blueprint order: label, type, shuffle flags (from the blueprint or the lock)."""
    lock = (form.assembly_report or {}).get("lock")
    if lock and lock.get("order_rules"):
        return list(lock["order_rules"])
    spec = (form.assembly_report or {}).get("blueprint", {}).get("spec")
    if spec is None:
        bp = session.get(Blueprint, form.blueprint_id)
        spec = bp.spec if bp is not None else {}
    rules = []
    for sec in spec.get("sections", []):
        label = sec.get("title") or TYPE_LABELS.get(sec["type"], sec["type"])
        rules.append(
            {
                "label": label,
                "type": sec["type"],
                "shuffle_items": sec.get("shuffle_items", True),
                "shuffle_options": sec.get("shuffle_options", True),
            }
        )
    return rules


# --------------------------------------------------------------------------------------------------
# The lock guard


@event.listens_for(Session, "before_flush")
def _guard_locked_forms(session: Session, _flush_context: Any, _instances: Any) -> None:
    """Refuse any change to a locked form or its items (item_bank.versions guards the versions it uses)."""
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, Form):
            state = inspect(obj)
            hist = state.attrs.status.history
            old_status = hist.deleted[0] if hist.deleted else obj.status
            if old_status in FROZEN_STATES and obj in session.deleted:
                raise FormLocked(obj, "已锁定的试卷不能删除")
            if old_status in FROZEN_STATES:
                changed = [
                    a.key for a in state.attrs if a.history.has_changes() and a.key not in ("status", "items")
                ]
                if changed or (old_status == LOCKED and obj.status not in FROZEN_STATES):
                    raise FormLocked(obj, f"已锁定的试卷不能修改（{', '.join(changed) or 'status'}）")
                if state.attrs["items"].history.has_changes():
                    raise FormLocked(obj, "已锁定的试卷不能增删题目")
        elif isinstance(obj, FormItem):
            form = obj.form if obj.form is not None else session.get(Form, obj.form_id)
            if (
                form is not None
                and _was_frozen(form)
                and (obj in session.deleted or session.is_modified(obj))
            ):
                raise FormLocked(form, "已锁定的试卷不能修改题目、分值或顺序")
    for obj in session.new:
        if isinstance(obj, FormItem):
            form = obj.form if obj.form is not None else session.get(Form, obj.form_id)
            if form is not None and _was_frozen(form):
                raise FormLocked(form, "已锁定的试卷不能增加题目")


def _was_frozen(form: Form) -> bool:
    hist = inspect(form).attrs.status.history
    old = hist.deleted[0] if hist.deleted else form.status
    return old in FROZEN_STATES


# --------------------------------------------------------------------------------------------------
# Per-candidate order


class _SeededStream:
    """A deterministic integer stream from SHA-256 (stable across Python versions and platforms)."""

    def __init__(self, *parts: object) -> None:
        self._base = "\x1f".join(str(p) for p in parts).encode("utf-8")
        self._counter = 0

    def below(self, n: int) -> int:
        """A uniform integer in [0, n) by rejection sampling."""
        if n <= 1:
            return 0
        limit = (1 << 64) - ((1 << 64) % n)
        while True:
            digest = hashlib.sha256(self._base + self._counter.to_bytes(8, "big")).digest()
            self._counter += 1
            value = int.from_bytes(digest[:8], "big")
            if value < limit:
                return value % n

    def shuffle(self, seq: list[Any]) -> None:
        for i in range(len(seq) - 1, 0, -1):
            j = self.below(i + 1)
            seq[i], seq[j] = seq[j], seq[i]


def candidate_order(form: Form, seed: int | str) -> tuple[list[int], dict[int, list[str]]]:
    """One candidate's screen: item-version ids in order and, per item with options, the option letters.

    Deterministic from (form code, seed). Sections keep blueprint order; items shuffle within a section
    where the blueprint allows; an item set's children stay together in set order; judge options never
    move, and options that refer to others ("以上都对") keep their place.
    """
    session = Session.object_session(form)
    rules = section_rules(session, form) if session is not None else []
    rule_by_label = {r["label"]: r for r in rules}
    stream = _SeededStream("form-order", form.code, seed)
    items = sorted(form.items, key=lambda fi: fi.position)
    sections: list[str] = []
    blocks: dict[str, list[list[FormItem]]] = {}
    set_block: dict[tuple[str, int], list[FormItem]] = {}
    for fi in items:
        if fi.section not in blocks:
            sections.append(fi.section)
            blocks[fi.section] = []
        set_id = fi.item_version.item_set_id
        if set_id is not None and (fi.section, set_id) in set_block:
            set_block[(fi.section, set_id)].append(fi)
            continue
        block = [fi]
        blocks[fi.section].append(block)
        if set_id is not None:
            set_block[(fi.section, set_id)] = block
    # Blueprint order first; sections the blueprint does not name keep their stored order after them.
    rank = {r["label"]: i for i, r in enumerate(rules)}
    sections.sort(key=lambda s: rank.get(s, len(rank)))
    order: list[int] = []
    options: dict[int, list[str]] = {}
    for label in sections:
        rule = rule_by_label.get(label, {"shuffle_items": True, "shuffle_options": True})
        section_blocks = blocks[label]
        for block in section_blocks:
            block.sort(key=lambda fi: (fi.item_version.set_position, fi.position))
        if rule.get("shuffle_items", True):
            stream.shuffle(section_blocks)
        for block in section_blocks:
            for fi in block:
                order.append(fi.item_version_id)
                v = fi.item_version
                letters = _option_letters(v.content.get("options") or [])
                if not letters:
                    continue
                if item_type(v.type).shuffles_options and rule.get("shuffle_options", True):
                    options[fi.item_version_id] = _shuffle_options(stream, letters, v.content["options"])
                else:
                    options[fi.item_version_id] = letters
    return order, options


def _option_letters(opts: Sequence[Any]) -> list[str]:
    return [chr(ord("A") + i) for i in range(len(opts))]


def _shuffle_options(stream: _SeededStream, letters: list[str], texts: Sequence[Any]) -> list[str]:
    free = [i for i, t in enumerate(texts) if not PINNED_OPTION.search(str(t))]
    moved = [letters[i] for i in free]
    stream.shuffle(moved)
    out = list(letters)
    for i, letter in zip(free, moved, strict=True):
        out[i] = letter
    return out
