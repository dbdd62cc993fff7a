"""Simulated sittings: responses drawn from a 3PL model, stored and submitted the way real ones are.

Item analysis needs volume (hundreds of candidates) that a demo or a test cannot sit by hand. A
simulated attempt goes through the attempt lifecycle (checked in → started → saves → submitted →
scored) with the same event log and scoring call as a real one; its events carry `simulated: true`.
Known faults can be planted: a miskeyed item (able candidates choose another option than the key)
and items with chosen parameters (too easy, not discriminating), so the flags have something to find.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.core.security import hash_password
from exam_server.delivery.chain import chain_rows, item_refs
from exam_server.delivery.models import (
    CHECKED_IN,
    IN_PROGRESS,
    SCHEDULED,
    SUBMITTED,
    Attempt,
    AttemptEvent,
    Response,
)
from exam_server.delivery.operations import prepare_attempts
from exam_server.delivery.states import check_transition
from exam_server.results.scoring import score_session
from exam_server.sessions.models import Candidate, ExamSession, Ticket
from exam_server.sessions.operations import SittingRules, assign_forms, create_exam_session
from item_bank.audit import audit
from item_bank.db import utcnow
from item_bank.models import Form, FormItem, ItemVersion
from item_bank.types import scoring_rule_for
from scoring.rules import LETTERS, Method

if TYPE_CHECKING:
    import pandas as pd

ACTOR = "system:simulation"
# The actor of a candidate's own steps in the attempt log, as delivery writes it.
CANDIDATE = "candidate"


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The true parameters by version id (empty without rows)."""
    # pandas on first use: `examctl` (and the app, through its commands) imports this module at start-up.
    import pandas as pd

    return pd.DataFrame(rows).set_index("version_id") if rows else pd.DataFrame()


@dataclass(frozen=True)
class TrueItem:
    """The generating parameters of one item and the answer a candidate who knows it gives."""

    version_id: int
    a: float
    b: float
    c: float
    answer: Any


@dataclass
class SimulationReport:
    """What `simulate_sitting` did, with the true parameters (for checking estimates against them)."""

    exam_session_id: int
    attempts: int = 0
    responses: int = 0
    truth: pd.DataFrame = field(default_factory=lambda: _frame([]))
    theta: dict[int, float] = field(default_factory=dict)


def _default_truth(rng: np.random.Generator, kind: str, n_options: int) -> tuple[float, float, float]:
    a = float(np.clip(rng.lognormal(0.15, 0.3), 0.4, 2.8))
    # A certification exam is mostly easy for the people who sit it: b centred below 0.
    b = float(np.clip(rng.normal(-0.6, 0.9), -2.8, 2.2))
    # Guessing an exact set of letters rarely works; one option of n somewhat more often than 1/n.
    c = 0.03 if kind == "multiple" else float(np.clip(0.7 / max(n_options, 2), 0.05, 0.35))
    return a, b, c


def _wrong_choice(rng: np.random.Generator, kind: str, answer: str, letters: str, weights: np.ndarray) -> str:
    """A wrong option (single/judge), or a wrong letter set near the answer (multiple)."""
    if kind != "multiple":
        pool = [ch for ch in letters if ch != answer]
        if not pool:
            return ""
        w = np.array([weights[letters.index(ch)] for ch in pool])
        return str(rng.choice(pool, p=w / w.sum()))
    keyed, others = set(answer), [ch for ch in letters if ch not in answer]
    move = rng.random()
    if others and (move < 0.45 or len(keyed) < 2):
        keyed.add(str(rng.choice(others)))  # one distractor too many
    elif len(keyed) >= 2 and (move < 0.9 or not others):
        keyed.discard(str(rng.choice(sorted(keyed))))  # one key missed
    else:
        keyed.discard(str(rng.choice(sorted(keyed))))
        keyed.add(str(rng.choice(others)))
    return "".join(sorted(keyed))


def _fill_value(key: Any, know: bool) -> list[str]:
    blanks = key if isinstance(key, list) else []
    if not know:
        return ["不清楚"] * max(len(blanks), 1)
    out = []
    for blank in blanks:
        if isinstance(blank, str):
            out.append(blank)
        elif isinstance(blank, Mapping):
            out.append(str((blank.get("answers") or [""])[0]))
        else:
            out.append(str(next(iter(blank))) if blank else "")
    return out


def _event(attempt_id: int, kind: str, actor: str, at: dt.datetime, payload: dict[str, Any], **step: Any) -> dict[str, Any]:
    """An attempt event row as the real step writes it, marked simulated."""
    # Every row has every column: one executemany takes the columns of its first row and drops the others'.
    return dict(attempt_id=attempt_id, kind=kind, actor=actor, at=at, payload={**payload, "simulated": True},
                item_version_id=None, seq=None, key=None) | step


def _form_items(session: Session, form_id: int) -> list[tuple[FormItem, ItemVersion]]:
    rows = session.execute(
        select(FormItem, ItemVersion)
        .join(ItemVersion, ItemVersion.id == FormItem.item_version_id)
        .where(FormItem.form_id == form_id)
        .order_by(FormItem.position)
    ).all()
    return [(fi, v) for fi, v in rows]


def simulate_sitting(
    session: Session,
    exam_session: ExamSession,
    *,
    seed: int = 7,
    params: Mapping[int, tuple[float, float, float]] | None = None,
    answers: Mapping[int, str] | None = None,
    theta_mean: float = 0.0,
    omit_rate: float = 0.01,
    actor: str = ACTOR,
    score: bool = True,
) -> SimulationReport:
    """Answer and submit every not-yet-submitted attempt of `exam_session` from a 3PL model. Commits.

    `params` fixes (a, b, c) per item version id, `answers` the option letters a candidate who knows the
    item chooses (a letter other than the key plants a miskeyed item); other items get random parameters.
    """
    rng = np.random.default_rng(seed)
    params, answers = dict(params or {}), dict(answers or {})
    attempts = list(
        session.scalars(
            select(Attempt)
            .where(Attempt.session_id == exam_session.id, Attempt.status.in_((SCHEDULED, CHECKED_IN)))
            .order_by(Attempt.id)
        )
    )
    report = SimulationReport(exam_session_id=exam_session.id)
    truth: dict[int, TrueItem] = {}
    kinds: dict[int, tuple[str, str, Any]] = {}
    distractor_weights: dict[int, np.ndarray] = {}
    for form_id in sorted({a.form_id for a in attempts}):
        for _fi, version in _form_items(session, form_id):
            if version.id in truth:
                continue
            n_options = len(version.options)
            a, b, c = params.get(version.id) or _default_truth(rng, version.type, n_options)
            answer = answers.get(version.id, version.key)
            truth[version.id] = TrueItem(version.id, a, b, c, answer)
            kinds[version.id] = (version.type, LETTERS[:n_options], version.key)
            distractor_weights[version.id] = rng.dirichlet(np.full(max(n_options, 1), 1.5))

    start = exam_session.starts_at
    duration = float(exam_session.duration_s)
    response_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []
    thetas = rng.normal(theta_mean, 1.0, len(attempts))
    for attempt, theta in zip(attempts, thetas, strict=True):
        report.theta[attempt.id] = float(theta)
        began = start + dt.timedelta(seconds=float(rng.uniform(0, 120)))
        used = float(rng.uniform(0.35, 0.95)) * duration
        finished = began + dt.timedelta(seconds=used)
        if attempt.status == SCHEDULED:
            check_transition("check_in", attempt.status, CHECKED_IN)
            attempt.checked_in_at = began - dt.timedelta(minutes=10)
            event_rows.append(_event(attempt.id, "checked_in", actor, attempt.checked_in_at, {}))
        check_transition("start", CHECKED_IN, IN_PROGRESS)
        deadline = began + dt.timedelta(seconds=duration)
        event_rows.append(_event(attempt.id, "started", CANDIDATE, began, {"deadline_at": deadline.isoformat()}))
        saves: list[dict[str, Any]] = []
        order = list(attempt.item_order)
        seq_of = {v: i for i, v in enumerate(order, start=1)}
        # Draws go item by item in form order, not the candidate's shuffled order, so one seed always
        # gives the same answers; the saves still follow the order the candidate saw.
        for version_id in sorted(order):
            seq = seq_of[version_id]
            t = truth[version_id]
            kind, letters, key = kinds[version_id]
            if rng.random() < omit_rate:
                continue
            p = t.c + (1 - t.c) / (1 + np.exp(-t.a * (theta - t.b)))
            know = bool(rng.random() < p)
            value: Any
            method = scoring_rule_for(kind).method
            if method is Method.OPTIONS:
                value = (
                    t.answer
                    if know
                    else _wrong_choice(rng, kind, t.answer, letters, distractor_weights[version_id])
                )
                if not value:
                    continue
            elif method is Method.BLANKS:
                value = _fill_value(key, know)
            else:  # people grade it: any text will do
                value = "（模拟作答）"
            saved = began + dt.timedelta(seconds=used * seq / (len(order) + 1))
            response_rows.append(
                dict(
                    attempt_id=attempt.id,
                    item_version_id=version_id,
                    value=value,
                    seq=seq,
                    saved_at=saved,
                    flagged=False,
                    flag_seq=0,
                )
            )
            saves.append(_event(attempt.id, "save", CANDIDATE, saved, {"value": value, "applied": True},
                                item_version_id=version_id, seq=seq))
        # The log is read in insertion order, so the saves go in as the candidate made them.
        event_rows.extend(sorted(saves, key=lambda e: e["seq"]))
        answered = len(saves)
        check_transition("submit", IN_PROGRESS, SUBMITTED)
        event_rows.append(_event(attempt.id, "submitted", CANDIDATE, finished, {"reason": "candidate", "note": ""}))
        attempt.status = SUBMITTED
        attempt.started_at = began
        attempt.submitted_at = finished
        attempt.submit_reason = "candidate"
        attempt.remaining_s = duration - used
        attempt.deadline_at = None
        attempt.answered_count = answered
        attempt.last_seq = len(order)
        attempt.last_activity_at = finished
        report.attempts += 1
    if response_rows:
        session.connection().execute(Response.__table__.insert(), response_rows)
    if event_rows:
        refs = item_refs(session, {r["item_version_id"] for r in event_rows if r.get("item_version_id")})
        heads = chain_rows(event_rows, refs, {a.id: a.last_event_hash for a in attempts})
        for attempt in attempts:
            attempt.last_event_hash = heads.get(attempt.id, attempt.last_event_hash)
        session.connection().execute(AttemptEvent.__table__.insert(), event_rows)
    session.flush()
    report.responses = len(response_rows)
    audit(
        session,
        actor,
        "simulate_sitting",
        "exam_session",
        exam_session.id,
        after={"attempts": report.attempts, "responses": report.responses, "seed": seed},
    )
    session.commit()
    if score:
        # The same vectorised path staff use after a sitting (examctl score-session); it commits.
        score_session(session, exam_session, actor)
    report.truth = _frame(
        [{"version_id": t.version_id, "a": t.a, "b": t.b, "c": t.c, "answer": t.answer} for t in truth.values()]
    )
    return report


@dataclass
class PastSession:
    """A finished, simulated sitting and the faults planted in it."""

    exam_session: ExamSession
    report: SimulationReport
    miskeyed: dict[int, str] = field(default_factory=dict)  # version id -> letters able candidates choose
    too_easy: list[int] = field(default_factory=list)
    weak: list[int] = field(default_factory=list)


def plant_faults(
    session: Session,
    form: Form,
    *,
    miskeyed: int = 1,
    too_easy: int = 1,
    weak: int = 1,
) -> tuple[dict[int, str], dict[int, tuple[float, float, float]], list[int], list[int]]:
    """Pick items of `form` to be miskeyed (single choice), too easy and not discriminating (judge first).

    Returns (answers, params, too_easy ids, weak ids) for `simulate_sitting`.
    """
    rows = _form_items(session, form.id)
    singles = [v for _, v in rows if v.type == "single" and len(v.options) >= 3]
    others = [v for _, v in rows if v.type in ("judge", "single") and v not in singles[:miskeyed]]
    answers: dict[int, str] = {}
    for v in singles[:miskeyed]:
        letters = LETTERS[: len(v.options)]
        answers[v.id] = letters[(letters.index(v.key) + 1) % len(letters)]
    params: dict[int, tuple[float, float, float]] = {}
    easy_ids = [v.id for v in others[:too_easy]]
    weak_ids = [v.id for v in others[too_easy : too_easy + weak]]
    for vid in easy_ids:
        params[vid] = (1.6, -4.5, 0.0)
    for vid in weak_ids:
        params[vid] = (0.1, 0.0, 0.1)
    for vid in answers:
        params[vid] = (1.5, -0.8, 0.05)
    return answers, params, easy_ids, weak_ids


def create_past_sitting(
    session: Session,
    forms: Sequence[Form],
    *,
    n_candidates: int,
    days_ago: int = 30,
    code: str | None = None,
    name: str | None = None,
    seed: int = 11,
    actor: str = ACTOR,
) -> ExamSession:
    """A sitting of `forms` held `days_ago` days ago with `n_candidates` ticketed candidates and their
    prepared attempts (not yet answered). Commits.

    Candidates and tickets are inserted in bulk (one audit row for the batch): the sitting is over, so
    every ticket gets the hash of one random password nobody knows.
    """
    if not forms:
        raise ValueError("需要至少一套已锁定的试卷")
    blueprint = forms[0].blueprint
    starts = (utcnow() - dt.timedelta(days=days_ago)).replace(hour=1, minute=30, second=0, microsecond=0)
    exam_session = create_exam_session(
        session,
        code=code or f"SIM-{starts:%Y%m%d}",
        name=name or f"{starts:%Y年%m月}保安员（五级/初级）理论知识 上机考试（已结束，模拟作答）",
        blueprint=blueprint,
        starts_at=starts,
        actor=actor,
        rules=SittingRules(min_submit_min=0),  # simulated answers are submitted at once
    )
    assign_forms(session, exam_session, list(forms), actor)
    rng = np.random.default_rng(seed)
    surnames = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾")
    given = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超霞平刚建华志海燕")
    employers = ["深圳市保安服务有限公司", "万科物业服务有限公司", "华南安保集团"]
    today = dt.date.today()
    people = []
    for i in range(n_candidates):
        born = dt.date(1970, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365 * 30)))
        people.append(
            dict(
                id_number=f"440306{born:%Y%m%d}{i % 10000:04d}",
                name=str(rng.choice(surnames)) + "".join(rng.choice(given, int(rng.integers(1, 3)))),
                guard_cert_no=f"粤公保证字{2019 + i % 6}{50000 + i:05d}",
                guard_cert_date=today - dt.timedelta(days=int(500 + 11 * i)),
                employer=str(rng.choice(employers)),
                city="深圳",
            )
        )
    known = {
        c.id_number: c
        for c in session.scalars(
            select(Candidate).where(Candidate.id_number.in_([p["id_number"] for p in people]))
        )
    }
    fresh = [Candidate(**p) for p in people if p["id_number"] not in known]
    session.add_all(fresh)
    session.flush()
    known.update({c.id_number: c for c in fresh})
    password_hash = hash_password(secrets.token_urlsafe(16))
    session.add_all(
        [
            Ticket(
                number=f"{starts:%y%m%d}{exam_session.id:03d}{i + 1:04d}",
                session_id=exam_session.id,
                candidate_id=known[p["id_number"]].id,
                password_hash=password_hash,
            )
            for i, p in enumerate(people)
        ]
    )
    session.flush()
    audit(
        session,
        actor,
        "simulate_candidates",
        "exam_session",
        exam_session.id,
        after={"candidates": n_candidates, "new": len(fresh)},
    )
    session.commit()
    prepare_attempts(session, exam_session, actor)
    return exam_session


def add_past_session(
    session: Session,
    forms: Sequence[Form],
    *,
    n_candidates: int = 300,
    days_ago: int = 30,
    code: str | None = None,
    seed: int = 11,
    plant: bool = True,
    score: bool = True,
    actor: str = ACTOR,
) -> PastSession:
    """A finished sitting of `forms`: every candidate answered (simulated), submitted and scored, with a
    miskeyed, a too easy and a weak item planted on the first form unless `plant` is False. Commits."""
    exam_session = create_past_sitting(
        session, forms, n_candidates=n_candidates, days_ago=days_ago, code=code, seed=seed, actor=actor
    )
    answers: dict[int, str] = {}
    params: dict[int, tuple[float, float, float]] = {}
    easy: list[int] = []
    weak: list[int] = []
    if plant:
        answers, params, easy, weak = plant_faults(session, forms[0])
    report = simulate_sitting(
        session, exam_session, seed=seed, params=params, answers=answers, actor=actor, score=score
    )
    exam_session.status = "closed"
    audit(session, actor, "close_exam_session", "exam_session", exam_session.id, after={"status": "closed"})
    session.commit()
    return PastSession(exam_session, report, answers, easy, weak)


def demo_past_session(session: Session, form_ids: Sequence[int], n_candidates: int) -> PastSession | None:
    """`examctl demo`'s second sitting: finished a month ago, `n_candidates` simulated answers (0 = none)."""
    if n_candidates <= 0:
        return None
    forms = [f for f in (session.get(Form, i) for i in form_ids) if f is not None]
    return add_past_session(session, forms, n_candidates=n_candidates)
