"""The kinds of job the worker knows: each domain registers its handlers with `@job_handler` at import time.

A handler is a function `(ctx: JobContext, **params) -> dict` (the summary shown when it is done). The modules
holding handlers are listed in `exam_server.app.JOB_MODULES`, so the web process (to label and authorise) and
the worker (to run) know the same kinds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exam_server.jobs.context import JobContext

Handler = Callable[..., "dict[str, Any] | None"]


@dataclass(frozen=True)
class JobHandler:
    """A kind of job: its Chinese `label`, the function that does it, and the staff `roles` who may see every
    job of the kind (admin always may; the person who submitted a job always sees their own)."""

    kind: str
    label: str
    run: Handler
    roles: tuple[str, ...]

    def __call__(self, ctx: JobContext, **params: Any) -> dict[str, Any] | None:
        return self.run(ctx, **params)


_HANDLERS: dict[str, JobHandler] = {}


def job_handler(kind: str, *, label: str, roles: tuple[str, ...] | list[str] = ()) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of `kind` (e.g. "bank.import", label "导入试题")."""

    def register(func: Handler) -> Handler:
        known = _HANDLERS.get(kind)
        if known is not None and _origin(known.run) != _origin(func):
            raise ValueError(f"job kind {kind!r} is already handled by {_origin(known.run)}")
        _HANDLERS[kind] = JobHandler(kind=kind, label=label, run=func, roles=tuple(roles))
        return func

    return register


def _origin(func: Handler) -> str:
    return f"{func.__module__}.{getattr(func, '__qualname__', repr(func))}"


def handler_for(kind: str) -> JobHandler | None:
    return _HANDLERS.get(kind)


def label_of(kind: str) -> str:
    handler = _HANDLERS.get(kind)
    return handler.label if handler else kind


def kinds_visible_to(has_role: Callable[..., bool]) -> list[str]:
    """The kinds whose every job a staff member with `has_role` may see."""
    return [kind for kind, handler in _HANDLERS.items() if handler.roles and has_role(*handler.roles)]


def may_see_kind(kind: str, has_role: Callable[..., bool]) -> bool:
    """Whether a staff member may see every job of `kind`; a kind this process does not know is admin-only."""
    handler = _HANDLERS.get(kind)
    if handler is None or not handler.roles:
        return has_role("admin")
    return has_role(*handler.roles)
