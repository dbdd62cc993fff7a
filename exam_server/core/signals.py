"""The named steps of the results pipeline: submitted → scored → grading tasks → result completed.

Each signal but `submissions_committed` is sent inside the transaction of the step that raises it, with the
SQLAlchemy session as the sender, so a receiver's writes commit or roll back with it. The receivers are connected in one place,
`exam_server/pipeline.py`, so that delivery, results and grading need not import each other to follow on.
"""

from __future__ import annotations

from blinker import Namespace

_pipeline = Namespace()

# sender: Session; attempt_id: int; actor: str. Sent when an attempt has moved to submitted.
attempt_submitted = _pipeline.signal("attempt-submitted")

# sender: Session; recover: bool. Sent AFTER a transaction that submitted attempts committed (outside any
# transaction), and by the server's sweep now and then (recover=True): a receiver asks for the scoring of what is submitted and not scored yet
# (results/submitted.py), which then runs as a job, never inside the submit.
submissions_committed = _pipeline.signal("submissions-committed")

# sender: Session; attempt: Attempt; result: Result | None; human_items: the items people grade that have no
# final mark yet (result is None while there are any); actor: str. Sent when an attempt has been scored as far
# as rules can; a receiver returns the grading tasks it created. (A sitting scored at once writes its complete
# results in bulk and sends it only for the attempts that wait for people.)
attempt_scored = _pipeline.signal("attempt-scored")

# sender: Session; task: GradingTask; actor: str. Sent when a grading task's final mark is set.
grading_task_finalised = _pipeline.signal("grading-task-finalised")

# sender: Session; result: Result; actor: str. Sent when a review request (复核) asks for human re-marking;
# a receiver returns the new grading tasks.
regrade_requested = _pipeline.signal("regrade-requested")

# sender: Session; exam_session: ExamSession; actor: str. Sent after scheduling committed new tickets of a sitting
# (sessions/scheduling.py); delivery prepares their attempts (form, item and option order) before the sitting opens.
sitting_scheduled = _pipeline.signal("sitting-scheduled")
