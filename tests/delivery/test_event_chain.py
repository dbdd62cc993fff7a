"""The attempt's event log as a hash chain: every path that appends chains its event, and an edited, removed or
reordered event is found and named, by `verify_attempt` and by `examctl verify-log` (exit codes 0/1/2)."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from conftest import Sitting
from delivery_support import NS, save, started
from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from exam_server.delivery.chain import GENESIS, chain_rows, verify_attempt, verify_events
from exam_server.delivery.models import Attempt, AttemptEvent
from exam_server.proctoring import operations as proctoring

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

T0 = dt.datetime(2026, 5, 1, 1, 0, tzinfo=dt.UTC)


def _log(n: int) -> list[dict[str, Any]]:
    rows = [{"attempt_id": 1, "kind": "save", "actor": "candidate", "at": T0 + dt.timedelta(seconds=i),
             "item_version_id": 10 + i, "seq": i + 1, "key": f"k{i}", "payload": {"value": "A", "applied": True}}
            for i in range(n)]
    chain_rows(rows, {10 + i: f"X{i}#1" for i in range(n)})
    return rows


def test_a_chain_names_the_first_edited_removed_or_reordered_event() -> None:
    rows = _log(5)
    refs = {10 + i: f"X{i}#1" for i in range(5)}
    assert verify_events(rows, rows[-1]["hash"], refs=refs).ok
    # Another node's rows carry other ids; the chain names items by ref, so it verifies there too.
    there = [{**r, "item_version_id": 100 + i} for i, r in enumerate(rows)]
    assert verify_events(there, rows[-1]["hash"], refs={100 + i: f"X{i}#1" for i in range(5)}).ok

    edited = [dict(r) for r in rows]
    edited[2]["payload"] = {"value": "B", "applied": True}
    broken = verify_events(edited, rows[-1]["hash"], refs=refs).broken
    assert broken is not None and (broken.position, broken.problem) == (3, "edited")
    assert "第 3 个事件（save，序号 3" in broken.message("作答记录 1")

    removed = rows[:2] + rows[3:]
    broken = verify_events(removed, rows[-1]["hash"], refs=refs).broken
    assert broken is not None and (broken.position, broken.problem) == (3, "broken_link")
    assert "序号 4" in broken.event  # the event after the gap is the one that no longer links

    reordered = [rows[0], rows[2], rows[1], rows[3], rows[4]]
    broken = verify_events(reordered, rows[-1]["hash"], refs=refs).broken
    assert broken is not None and (broken.position, broken.problem, "序号 3" in broken.event) == (2, "broken_link", True)

    cut = verify_events(rows[:4], rows[-1]["hash"], refs=refs).broken
    assert cut is not None and cut.problem == "tail_missing"

    # Any canonical detail counts: the time to the microsecond, the actor, the item.
    for column, value in (("at", T0 + dt.timedelta(seconds=1, microseconds=1)), ("actor", "proctor"),
                          ("item_version_id", 99)):
        changed = [dict(r) for r in rows]
        changed[1][column] = value
        assert verify_events(changed, refs=refs).broken.position == 2  # type: ignore[union-attr]


def _events(session: Session, attempt_id: int) -> list[AttemptEvent]:
    session.expire_all()
    return list(session.scalars(select(AttemptEvent).where(AttemptEvent.attempt_id == attempt_id)
                                .order_by(AttemptEvent.id)))


@SQLITE_ONLY
def test_every_path_chains_and_verify_log_names_a_tampered_event(app: Flask, session: Session,
                                                                 sitting: Sitting) -> None:
    client = app.test_client()
    sock, attempt_id, items = started(app, client, sitting)
    ids = [it["item_id"] for it in items]
    assert save(sock, attempt_id, ids[0], items[0]["options"][0]["id"], 1)["ok"]
    assert sock.emit("flag", {"attempt_id": attempt_id, "item_id": ids[1], "flagged": True, "seq": 2, "key": "f2"},
                     namespace=NS, callback=True)["ok"]
    assert save(sock, attempt_id, ids[0], items[0]["options"][1]["id"], 3)["ok"]
    attempt = session.get(Attempt, attempt_id)
    assert attempt is not None
    # The proctor's verbs and an incident go through the ORM; a save between them through prepared statements.
    proctoring.pause(session, attempt, "proctor1", "停电")
    proctoring.resume(session, attempt, "proctor1", "")
    proctoring.log_incident(session, attempt, "proctor1", "environment", "空调噪声")
    assert save(sock, attempt_id, ids[2], items[2]["options"][0]["id"], 4)["ok"]

    events = _events(session, attempt_id)
    kinds = [e.kind for e in events]
    assert {"workstation", "started", "save", "flag", "paused", "resumed", "incident"} <= set(kinds), kinds
    assert events[0].prev_hash == GENESIS and all(e.hash for e in events)
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    assert session.get(Attempt, attempt_id).last_event_hash == events[-1].hash  # type: ignore[union-attr]
    report = verify_attempt(session, attempt_id)
    assert report is not None and report.ok and report.events == len(events)

    runner = app.test_cli_runner()
    ok = runner.invoke(args=["verify-log", str(attempt_id)])
    assert ok.exit_code == 0 and "事件记录完整" in ok.output, ok.output
    assert runner.invoke(args=["verify-log", "999999"]).exit_code == 2
    code = session.get(Attempt, attempt_id).session.code  # type: ignore[union-attr]
    whole = runner.invoke(args=["verify-log", "--sitting", code])
    assert whole.exit_code == 0 and whole.output.count("事件记录完整") == len(sitting.attempt_ids), whole.output

    # Someone edits an answer in the database: the save is named by its place, kind and seq.
    third_save = [e for e in events if e.kind == "save"][1]
    position = events.index(third_save) + 1
    session.execute(update(AttemptEvent).where(AttemptEvent.id == third_save.id)
                    .values(payload={"value": "D", "applied": True}))
    session.commit()
    bad = runner.invoke(args=["verify-log", sitting.seeded.logins[0][0]])  # by ticket number
    assert bad.exit_code == 1
    assert f"第 {position} 个事件（save，序号 3" in bad.output and "内容被改动" in bad.output, bad.output
    assert runner.invoke(args=["verify-log", "--sitting", code]).exit_code == 1


@SQLITE_ONLY
def test_a_removed_event_is_named_by_the_one_after_it(app: Flask, session: Session, sitting: Sitting) -> None:
    client = app.test_client()
    sock, attempt_id, items = started(app, client, sitting)
    for seq, item in enumerate(items[:3], start=1):
        assert save(sock, attempt_id, item["item_id"], item["options"][0]["id"], seq)["ok"]
    sock.emit("submit", {"attempt_id": attempt_id, "key": "s"}, namespace=NS, callback=True)
    events = _events(session, attempt_id)
    saves = [e for e in events if e.kind == "save"]
    assert verify_attempt(session, attempt_id).ok  # type: ignore[union-attr]

    session.delete(saves[1])
    session.commit()
    report = verify_attempt(session, attempt_id)
    assert report is not None and report.broken is not None
    assert report.broken.problem == "broken_link" and "序号 3" in report.broken.event
    assert report.broken.event_id == saves[2].id
