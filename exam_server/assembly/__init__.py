"""Blueprints, paper assembly and form review: the bank manager's screens and commands."""
