"""The walkthrough of an item type (Moodle's walkthrough_test): a sitting of a small paper of that type, each
candidate's answers saved over the real Socket.IO protocol and submitted, the results the pipeline writes,
people's marks where the type is graded by people, and the item analysis of the sitting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import Sitting, exam_socket
from delivery_support import NS, save
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.analysis.compute import SessionAnalysis, analyse_session
from exam_server.core.models import User
from exam_server.grading.assignment import assign_tasks
from exam_server.grading.marking import submit_mark
from exam_server.grading.models import GradingTask
from exam_server.grading.seed import CANDIDATES, seed_paper_sitting
from exam_server.results.models import Result
from exam_server.sessions.models import ExamSession


@dataclass
class Walkthrough:
    """A checked-in sitting of one paper (the items given, in order) with four candidates."""

    app: Flask
    session: Session
    sitting: Sitting

    @property
    def version_ids(self) -> list[int]:
        return list(self.sitting.seeded.version_ids)

    @property
    def exam_session(self) -> ExamSession:
        exam_session = self.session.get(ExamSession, self.sitting.seeded.exam_session_id)
        assert exam_session is not None
        return exam_session

    def sit(
        self, index: int, answers: list[Any], refused: list[Any] | None = None
    ) -> dict[int, dict[str, Any]]:
        """Candidate `index` logs in, joins, starts, saves answers[i] to the paper's i-th item (None: left
        unanswered), has each refused[i] turned away as an invalid value, and submits; returns the items
        the exam page was given, by version id."""
        client = self.app.test_client()
        self.sitting.login(client, index)
        sock = exam_socket(self.app, client)
        attempt_id = self.sitting.attempt_ids[index]
        joined = sock.emit(
            "join", {"attempt_id": attempt_id, "workstation": f"ws-{index}"}, namespace=NS, callback=True
        )
        assert joined["ok"] and joined["status"] == "checked_in"
        assert sock.emit("start", {"attempt_id": attempt_id}, namespace=NS, callback=True)["ok"]
        paper = {item["item_id"]: item for item in client.get("/api/attempt").get_json()["items"]}
        assert sorted(paper) == sorted(self.version_ids)
        seq = 0
        for version_id, bad in zip(self.version_ids, refused or [], strict=False):
            seq += 1
            # An entry is a value refused as invalid, or (value, the error code it is refused with).
            bad, code = bad if isinstance(bad, tuple) else (bad, "invalid_value")
            assert save(sock, attempt_id, version_id, bad, seq)["error"] == code
        for version_id, value in zip(self.version_ids, answers, strict=True):
            if value is not None:
                seq += 1
                assert save(sock, attempt_id, version_id, value, seq)["ok"]
        ack = sock.emit(
            "submit", {"attempt_id": attempt_id, "key": f"submit-{index}"}, namespace=NS, callback=True
        )
        assert ack["ok"], ack
        sock.disconnect(NS)
        return paper

    def result(self, index: int) -> Result | None:
        """Candidate `index`'s current result, if the pipeline has completed one."""
        self.session.expire_all()
        return self.session.scalar(
            select(Result).where(
                Result.attempt_id == self.sitting.attempt_ids[index], Result.superseded.is_(False)
            )
        )

    def points(self, index: int) -> list[float]:
        """Candidate `index`'s points per item of the paper, in order."""
        result = self.result(index)
        assert result is not None
        return [result.detail[str(v)] for v in self.version_ids]

    def tasks(self, index: int) -> list[GradingTask]:
        """The grading tasks of candidate `index`'s attempt, in paper order."""
        self.session.expire_all()
        tasks = self.session.scalars(
            select(GradingTask).where(
                GradingTask.attempt_id == self.sitting.attempt_ids[index], GradingTask.superseded.is_(False)
            )
        ).all()
        return sorted(tasks, key=lambda t: self.version_ids.index(t.item_version_id))

    def mark_twice(self, task: GradingTask, criteria: list[float]) -> None:
        """Two graders give `task` the same marks (within tolerance, so the mean is final)."""
        for name in ("grader1", "grader2"):
            grader = self.session.get(User, self.sitting.seeded.staff[name])
            submit_mark(self.session, task.code, grader, criteria, None, "", f"user:{name}")

    def assign(self) -> int:
        staff = self.sitting.seeded.staff
        return assign_tasks(
            self.session, self.exam_session, [staff["grader1"], staff["grader2"]], "user:chief"
        )

    def analysis(self) -> SessionAnalysis:
        return analyse_session(self.session, self.exam_session, cache=False)


@pytest.fixture
def walkthrough(app: Flask, session: Session) -> Callable[..., Walkthrough]:
    """Build a walkthrough of a paper: item specs as exam_server.grading.seed.seed_paper_sitting takes them."""

    def build(items: list[dict[str, Any]], level: int = 5) -> Walkthrough:
        seeded = seed_paper_sitting(
            session,
            items,
            level=level,
            part="theory" if level > 2 else "written",
            hash_profile="low",
            candidates=CANDIDATES[:4],
        )
        return Walkthrough(app, session, Sitting(seeded, list(seeded.attempt_ids)))

    return build
