"""The refusal of an item analysis."""

from __future__ import annotations

from item_bank.kernel import DomainError


class AnalysisError(DomainError):
    """An analysis that cannot be made or acted on: names the session, form or item at fault."""

    default_code = "analysis_refused"
    default_status = 409
