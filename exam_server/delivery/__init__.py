"""Exam delivery: attempts, the candidate wire protocol, the server-owned clock."""
