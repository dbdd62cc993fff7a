"""A lifecycle as data: its allowed transitions in one table, and one function that checks, sets and audits."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from item_bank.audit import audit
from item_bank.kernel.errors import DomainError


class TransitionRefused(DomainError):
    """An action that the lifecycle's table does not allow from the current state."""

    default_code = "transition_refused"
    default_status = 409

    def __init__(self, message: str, action: str, current: str, target: str) -> None:
        super().__init__(message, action=action, current=current, target=target)
        self.action, self.current, self.target = action, current, target


class StateMachine:
    """The allowed `(from, to) -> actions` of one lifecycle, with Chinese labels for its states and actions.

    `refusal` builds the sentence a user reads; the default names the state and the action in Chinese.
    `error` is the exception raised (a subclass of TransitionRefused, so each domain keeps its own type).
    `refuse`, where given, builds the exception instead from the object refused, for a domain whose error
    names the object (a form's code, a version's number) and predates this table.
    """

    def __init__(
        self,
        name: str,
        transitions: Mapping[tuple[str, str], frozenset[str]],
        *,
        entity: str,
        state_labels: Mapping[str, str] | None = None,
        action_labels: Mapping[str, str] | None = None,
        error: type[TransitionRefused] = TransitionRefused,
        refusal: Callable[[StateMachine, str, str, str], str] | None = None,
        refuse: Callable[[Any, str, str, str], DomainError] | None = None,
    ) -> None:
        self.name = name
        self.transitions = dict(transitions)
        self.entity = entity
        self.state_labels = dict(state_labels or {})
        self.action_labels = dict(action_labels or {})
        self.error = error
        self._refusal = refusal
        self._refuse = refuse

    def label(self, state: str) -> str:
        return self.state_labels.get(state, state)

    def allows(self, action: str, current: str, target: str) -> bool:
        return action in self.transitions.get((current, target), frozenset())

    def refusal_message(self, action: str, current: str, target: str) -> str:
        if self._refusal is not None:
            return self._refusal(self, action, current, target)
        return f"{self.name}状态为「{self.label(current)}」，不能执行「{self.action_labels.get(action, action)}」"

    def check(self, action: str, current: str, target: str, obj: Any = None) -> None:
        """Raise `error` (or what `refuse` builds for `obj`) unless `action` may move `current` to `target`."""
        if self.allows(action, current, target):
            return
        if self._refuse is not None and obj is not None:
            raise self._refuse(obj, action, current, target)
        raise self.error(self.refusal_message(action, current, target), action, current, target)

    def apply(
        self,
        session: Session,
        obj: Any,
        action: str,
        target: str,
        actor: str,
        *,
        attribute: str = "status",
        reason: str = "",
        audit_action: str | None = None,
        **after: Any,
    ) -> None:
        """Check the transition, set `obj.<attribute>` and add the audit row, in the caller's transaction."""
        current = getattr(obj, attribute)
        self.check(action, current, target, obj)
        setattr(obj, attribute, target)
        audit(
            session,
            actor,
            audit_action or action,
            self.entity,
            obj.id,
            before={attribute: current},
            after={attribute: target, **after},
            reason=reason,
        )
