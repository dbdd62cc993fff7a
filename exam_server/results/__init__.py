"""Results: scoring attempts into part scores, release, re-scores, reviews and the stored level outcome.

The lifecycle of a result (成绩), module by module:

1. `scoring.py` / `completion.py`: a part's score is stored as a `Result` row, `provisional`; a different score
   later (a key correction, `corrections.py`; a grader's final mark; a review) is a NEW row superseding the old,
   which stays (`supersedes_id`, `reason`, audited). Every write recomputes the candidate's level outcome.
2. `outcomes.py`: the level outcome (theory, skill, exemption, pass/fail, date) is STORED (`LevelOutcome`), a
   changed one superseding the old with its reason and actor. Every screen and document reads the stored row
   (`current_outcome`): the centre's results page, the candidate's own page (`queries.candidate_levels`, which
   shows nothing of a counted part not yet released), the score report (`score_report.py`) and certificates.
3. `release.py`: results are released per sitting (or, with a reason, for named candidates) only when no attempt
   is open and no grading task unfinished; `released_at` is set on the rows released.
4. `review_requests.py`: a candidate may ask for a review (复核) of a released, scored result within the window
   of `review_rules.json` (15 days from the release date, Beijing dates, the last day included); the page and the
   score report show the last day. Staff rescore (a new released row at once), send it back to graders (the new
   row follows when their marks are final) or reject it with a reason.
"""
