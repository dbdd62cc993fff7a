"""The assembly verbs the screens and `examctl` share: storing blueprints, assembling forms, a form's review
steps. Each is one transaction; the item_bank function it calls writes the audit row in it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from item_bank.assembly import AssemblyResult, assemble_forms
from item_bank.assembly.engine import DEFAULT_GAP
from item_bank.blueprints import (
    BlueprintError,
    BlueprintSpec,
    create_blueprint,
    get_blueprint,
    load_spec,
    loads_spec,
    spec_of,
    update_blueprint,
)
from item_bank.forms import apply_action
from item_bank.kernel import transaction
from item_bank.models import Blueprint, Form

# What a stored blueprint became when a file was given for it.
CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"


def save_blueprint(session: Session, bp: Blueprint | None, spec: BlueprintSpec, actor: str) -> Blueprint:
    """Store `spec` as a new blueprint, or as the new content of `bp`; BlueprintError names each bad field."""
    with transaction(session):
        if bp is None:
            return create_blueprint(session, spec, actor)
        return update_blueprint(session, bp, spec, actor)


def import_blueprint(session: Session, text: str, source: str, actor: str) -> Blueprint:
    """A new blueprint from YAML or JSON text (an uploaded file or pasted text named `source`)."""
    return save_blueprint(session, None, loads_spec(text, source), actor)


def resolve_blueprint(session: Session, name_or_file: str, actor: str) -> tuple[Blueprint, str]:
    """A stored blueprint by name or id, or the one a `.yaml`/`.json` file describes: created, or updated to
    match the file. Returns the blueprint and what happened to it (CREATED, UPDATED or UNCHANGED)."""
    path = Path(name_or_file)
    if path.suffix.lower() not in (".yaml", ".yml", ".json") and not path.is_file():
        bp = get_blueprint(session, name_or_file)
        if bp is None:
            raise BlueprintError(f"没有名为「{name_or_file}」的蓝图，也不是 .yaml/.json 文件")
        return bp, UNCHANGED
    spec = load_spec(path)
    existing = get_blueprint(session, spec.name)
    if existing is None:
        return save_blueprint(session, None, spec, actor), CREATED
    if spec_of(existing).to_dict() == spec.to_dict():
        return existing, UNCHANGED
    return save_blueprint(session, existing, spec, actor), UPDATED


def assemble(
    session: Session,
    bp: Blueprint,
    n_forms: int,
    *,
    time_limit_s: float,
    seed: int | None,
    actor: str,
    gap: float = DEFAULT_GAP,
    allow_identical: bool = False,
) -> AssemblyResult:
    """Assemble and store `n_forms` parallel forms; AssemblyError (or BlueprintError) says why not."""
    with transaction(session):
        return assemble_forms(
            session, bp, n_forms, time_limit_s=time_limit_s, seed=seed, gap=gap, actor=actor,
            allow_identical=allow_identical,
        )


def form_action(session: Session, form: Form, action: str, actor: str, reason: str = "") -> Form:
    """Approve, return, lock or retire a form; FormStateError names the form and its state when refused."""
    with transaction(session):
        return apply_action(session, form, action, actor, reason)
