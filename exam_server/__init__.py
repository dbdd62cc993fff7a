"""The Flask application of the exam engine: `create_app(config)` builds one.

Kept free of imports so that `examctl run` can install gevent's monkey patches before Flask,
SQLAlchemy or the database drivers are loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the application; `config` overrides what the environment says (tests use it)."""
    from exam_server.app import create_app as _create_app

    return _create_app(config)
