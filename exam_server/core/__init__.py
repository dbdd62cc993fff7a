"""Shared web-layer plumbing: configuration, database session, logins, security."""
