"""The item bank's screens, JSON API and commands (题库): authors, reviewers and the bank manager."""
