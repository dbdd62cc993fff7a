"""Schema migrations (Alembic): `upgrade_to_head` is what `examctl init-db` runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic (with Mako and its DDL dialects) is imported on first use, not here: `examctl` registers this
# module's command with every app it builds, and a restarted exam server must listen again within seconds.

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade_to_head(database_url: str) -> None:
    """Bring the database at `database_url` to the newest schema."""
    from alembic import command

    command.upgrade(alembic_config(database_url), "head")
