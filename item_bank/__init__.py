"""The item bank: items and their versions, the knowledge tree, blueprints, assembly, import and export.

Knows SQLAlchemy, never Flask.
"""

# Registers the flush guard that keeps stored item versions immutable, wherever the models are used.
from item_bank import versions as _versions  # noqa: F401
