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
    ) -> None:
        self.name = name
        self.transitions = dict(transitions)
        self.entity = entity
        self.state_labels = dict(state_labels or {})
        self.action_labels = dict(action_labels or {})
        self.error = error
        self._refusal = refusal

    def label(self, state: str) -> str:
        return self.state_labels.get(state, state)

    def allows(self, action: str, current: str, target: str) -> bool:
        return action in self.transitions.get((current, target), frozenset())

    def refusal_message(self, action: str, current: str, target: str) -> str:
        if self._refusal is not None:
            return self._refusal(self, action, current, target)
        return f"{self.name}状态为「{self.label(current)}」，不能执行「{self.action_labels.get(action, action)}」"

    def check(self, action: str, current: str, target: str) -> None:
        """Raise `error` unless `action` may move an entity from `current` to `target`."""
        if not self.allows(action, current, target):
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
        self.check(action, current, target)
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
