"""One base for every refusal a user can act on."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal with a stable `code`, a Chinese `message` naming what is wrong, and the HTTP `status` it maps to.

    Subclasses set `default_code` and `default_status`; a message is always required because it is what the
    user reads. `details` carries what a screen may point at (a file's row, a field, an item).
    """

    default_code = "refused"
    default_status = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.status = status or self.default_status
        self.details = details

    def ack(self) -> dict[str, Any]:
        """The shape of a refused Socket.IO acknowledgement or JSON answer."""
        return {"ok": False, "error": self.code, "message": self.message}
