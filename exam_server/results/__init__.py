"""Results: scoring attempts into part scores, release, re-scores."""
