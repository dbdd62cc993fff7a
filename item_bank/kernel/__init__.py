"""The conventions every domain shares, at the bottom of the layers so the item bank and the web app use one.

- `DomainError`: a refusal a user can act on, with a stable `code`, a Chinese `message` and an HTTP `status`;
  the web layer has one handler for pages, JSON and socket acknowledgements (exam_server/core/errors.py).
- `transaction`: commit what a block did, or roll all of it back.
- `actor`: the one spelling of who did something, for the audit log.
- `StateMachine`: a lifecycle's allowed transitions in one table, with one function that checks, sets and audits.
- `process_cache`: the registry of process-wide caches, so tests (and key corrections) clear them all at once.
"""

from item_bank.db import transaction
from item_bank.kernel.actors import actor, cli_actor, system_actor, user_actor
from item_bank.kernel.caches import ProcessCache, clear_all, process_cache
from item_bank.kernel.errors import DomainError
from item_bank.kernel.states import StateMachine, TransitionRefused

__all__ = [
    "DomainError",
    "ProcessCache",
    "StateMachine",
    "TransitionRefused",
    "actor",
    "clear_all",
    "cli_actor",
    "process_cache",
    "system_actor",
    "transaction",
    "user_actor",
]
