"""The item bank: items and their versions, the knowledge tree, blueprints, assembly, import and export.

Knows SQLAlchemy, never Flask.
"""
