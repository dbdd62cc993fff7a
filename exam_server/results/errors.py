"""The refusal of a results action."""

from __future__ import annotations

from item_bank.kernel import DomainError


class ResultsError(DomainError):
    """A results action that cannot be done as asked; the message names what is wrong."""

    default_code = "results_refused"
    default_status = 409
