"""The site's replication feed (sitenode/replication.py) in one process: the primary is the test app, the standby a
second SQLite file seeded from the primary's snapshot route. Who may read the feed, what it carries (answers, the
clock with its pauses and extra time, credentials changed at the site, proctors' actions), that the same batch twice
changes nothing, and that an edited event is refused naming the attempt and the event."""

from __future__ import annotations

import copy
import gzip
import json
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.core import signing
from exam_server.delivery import clock, steps
from exam_server.delivery.models import Attempt, AttemptEvent, Response
from exam_server.sessions.models import Ticket
from exam_server.sitenode import replication
from item_bank.audit import AuditEvent
from item_bank.db import make_engine, make_session_factory

WORKSTATION = "ws-standby-test"
# A site node runs on SQLite (the feed reads event ids in SQLite's commit order).
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def primary(app: Flask, database_url: str, tmp_path: Path) -> Flask:
    app.config["NODE_KEY_DIR"] = str(tmp_path / "site-keys")
    signing.generate_node_key(tmp_path / "site-keys")
    return app


def signed_get(client: FlaskClient, path: str, key: Any = None, *, at: int | None = None,
               signed_path: str | None = None) -> Any:
    headers = {"Accept": "application/json"}
    if key is not None:
        stamp = int(time.time()) if at is None else at
        headers[replication.SIGNATURE_HEADER] = replication.sign_request(key, "GET", signed_path or path, stamp)
    return client.get(path, headers=headers)


def body(response: Any) -> bytes:
    data = response.get_data()
    return gzip.decompress(data) if response.headers.get("Content-Encoding") == "gzip" else data


class Standby:
    """The standby's database, seeded from the primary's snapshot, and the feed it asks for."""

    def __init__(self, client: FlaskClient, key: Any, folder: Path) -> None:
        self.client, self.key = client, key
        answer = signed_get(client, "/site-node/replication/snapshot", key)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        self.path = folder / "standby.db"
        self.path.write_bytes(body(answer))
        self.engine = make_engine(f"sqlite:///{self.path}")
        self.session = make_session_factory(self.engine)()
        self.generation = replication.generation(self.session)
        self.digests = replication.table_digests(self.session)
        self.session.rollback()

    def feed(self) -> dict[str, Any]:
        after, audit = replication.cursors(self.session)
        self.session.rollback()
        query = f"after={after}&audit={audit}&generation={self.generation}" + "".join(
            f"&d_{name}={digest}" for name, digest in self.digests.items())
        answer = signed_get(self.client, f"/site-node/replication/feed?{query}", self.key)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return json.loads(body(answer))

    def apply(self, feed: dict[str, Any]) -> replication.Applied:
        done = replication.apply_feed(self.session, feed)
        self.digests = {name: t["digest"] for name, t in (feed.get("tables") or {}).items()}
        return done

    def close(self) -> None:
        self.session.close()
        self.engine.dispose()


def dump(session: Session) -> dict[str, Any]:
    """What exam day writes, as comparable rows (response ids are each database's own)."""
    out = {
        "attempts": [tuple(r) for r in session.execute(
            select(Attempt.id, Attempt.status, Attempt.deadline_at, Attempt.remaining_s, Attempt.started_at,
                   Attempt.last_seq, Attempt.answered_count, Attempt.workstation, Attempt.last_event_hash)
            .order_by(Attempt.id))],
        "events": [tuple(r) for r in session.execute(
            select(AttemptEvent.id, AttemptEvent.attempt_id, AttemptEvent.kind, AttemptEvent.seq, AttemptEvent.key,
                   AttemptEvent.payload, AttemptEvent.ack, AttemptEvent.hash).order_by(AttemptEvent.id))],
        "responses": sorted(tuple(r) for r in session.execute(
            select(Response.attempt_id, Response.item_version_id, Response.value, Response.seq, Response.flagged,
                   Response.flag_seq))),
        "tickets": [tuple(r) for r in session.execute(
            select(Ticket.id, Ticket.password_hash, Ticket.first_login_at, Ticket.session_epoch).order_by(Ticket.id))],
        "audit": [tuple(r) for r in session.execute(select(AuditEvent.id, AuditEvent.action).order_by(AuditEvent.id))],
    }
    session.rollback()
    return out


def sit(session: Session, attempt_id: int, answers: list[tuple[int, Any]]) -> None:
    """The candidate joins, starts and saves `answers` (item index, value) with rising seqs."""
    attempt = session.get(Attempt, attempt_id)
    assert attempt is not None
    candidate_id, items = attempt.candidate_id, list(attempt.item_order)
    steps.join(session, attempt_id, WORKSTATION, "candidate", candidate_id)
    steps.start(session, attempt_id, "candidate", WORKSTATION, candidate_id)
    seq = session.scalar(select(Attempt.last_seq).where(Attempt.id == attempt_id)) or 0
    for index, value in answers:
        seq += 1
        ack = steps.save_answer(session, candidate_id, attempt_id, items[index], value, seq,
                                f"{WORKSTATION}:{attempt_id}:{seq}", WORKSTATION)
        assert ack["ok"], ack


def test_the_feed_is_refused_to_anyone_but_the_sites_standby(primary: Flask, sitting: Any, tmp_path: Path) -> None:
    feed = "/site-node/replication/feed?after=0&audit=0&generation=x"
    key = signing.load_private_key(tmp_path / "site-keys")
    stranger = signing.read_private_key(signing.key_paths(signing.generate_node_key(tmp_path / "other") and
                                                          tmp_path / "other")[0])
    anonymous = primary.test_client()
    assert signed_get(anonymous, feed).status_code == 401
    assert signed_get(anonymous, "/site-node/replication/snapshot").status_code == 401
    candidate = primary.test_client()
    sitting.login(candidate)
    assert signed_get(candidate, feed).status_code == 401
    proctor = primary.test_client()
    sitting.staff_login(proctor, "proctor")
    assert signed_get(proctor, feed).status_code == 401
    admin = primary.test_client()
    sitting.staff_login(admin, "staff")
    assert signed_get(admin, "/site-node/replication/snapshot").status_code == 401
    # Another key (a machine that is not the site's), an old signature, a signature of another request.
    assert signed_get(anonymous, feed, stranger).status_code == 403
    assert signed_get(anonymous, feed, key, at=int(time.time()) - 600).status_code == 401
    other = signed_get(anonymous, feed, key, signed_path="/site-node/replication/feed?after=99&audit=0&generation=x")
    assert other.status_code == 403
    refused = json.loads(other.get_data())
    assert refused["error"] == "bad_signature" and "节点密钥" in refused["message"]
    # The site's own key: served.
    answer = signed_get(anonymous, feed, key)
    assert answer.status_code == 200 and json.loads(body(answer))["snapshot"] is True


def test_the_standby_holds_what_the_primary_wrote_and_a_second_apply_changes_nothing(
    primary: Flask, session: Session, sitting: Any, tmp_path: Path
) -> None:
    key = signing.load_private_key(tmp_path / "site-keys")
    standby = Standby(primary.test_client(), key, tmp_path)
    try:
        first, second, third = sitting.attempt_ids
        sit(session, first, [(0, "A"), (1, "B"), (0, "B")])
        sit(session, second, [(2, "A")])
        # The proctor's hand on the clock: a pause (remaining time frozen), extra time on another attempt.
        clock.pause(session, session.get(Attempt, second), "proctor", "停电")
        session.commit()
        clock.extend(session, session.get(Attempt, first), "proctor", 600, "设备故障")
        session.commit()
        # A candidate's password reset at the site (they must log in on the standby with it).
        from exam_server.sessions.credentials import reset_password

        reset_password(session, session.get(Ticket, session.get(Attempt, third).ticket_id), "proctor", "忘记密码",
                       secret="test-secret")
        session.commit()

        feed = standby.feed()
        assert "snapshot" not in feed and feed["events"], feed
        done = standby.apply(feed)
        assert done.events == len(feed["events"]) and done.answers >= 3 and "ticket:" in ",".join(done.tables)
        assert dump(standby.session) == dump(session)
        paused = standby.session.get(Attempt, second)
        assert paused is not None and paused.status == "paused"
        # The same batch again: nothing changes (events skipped, states and rows equal).
        before = dump(standby.session)
        again = replication.apply_feed(standby.session, copy.deepcopy(feed))
        assert again.events == 0 and again.audit == 0 and again.tables == []
        assert dump(standby.session) == before
        # An older batch after a newer one never turns the clock back.
        sit(session, first, [(3, "A")])
        standby.apply(standby.feed())
        assert dump(standby.session) == dump(session)
        replication.apply_feed(standby.session, copy.deepcopy(feed))
        assert dump(standby.session) == dump(session)
        # A change the feed does not carry (an account added at the site): the standby is told to take a whole copy.
        from exam_server.core.models import User

        session.add(User(username="chief2", display_name="chief2", password_hash="x", roles=["centre_staff"]))
        session.commit()
        assert standby.feed().get("snapshot") is True
        assert replication.apply_feed(standby.session, standby.feed()).needs_snapshot
        # Remaining time on the standby is the primary's (stored deadline, stored remainder while paused).
        for attempt_id in (first, second):
            here, there = session.get(Attempt, attempt_id), standby.session.get(Attempt, attempt_id)
            assert abs(clock.remaining_seconds(here) - clock.remaining_seconds(there)) < 1
    finally:
        standby.close()


def test_an_edited_event_in_the_feed_is_refused_naming_the_attempt_and_event(
    primary: Flask, session: Session, sitting: Any, tmp_path: Path
) -> None:
    key = signing.load_private_key(tmp_path / "site-keys")
    standby = Standby(primary.test_client(), key, tmp_path)
    try:
        attempt_id = sitting.attempt_ids[0]
        sit(session, attempt_id, [(0, "A"), (1, "B")])
        feed = standby.feed()
        before = dump(standby.session)
        tampered = copy.deepcopy(feed)
        save = next(e for e in tampered["events"] if e["kind"] == "save" and e["seq"] == 2)
        save["payload"]["value"] = "A"
        with pytest.raises(replication.ReplicationError) as refused:
            replication.apply_feed(standby.session, tampered)
        number = session.scalar(select(Ticket.number).join(Attempt, Attempt.ticket_id == Ticket.id)
                                .where(Attempt.id == attempt_id))
        message = refused.value.message
        assert f"准考证 {number}" in message and "save，序号 2" in message and f"编号 {save['id']}" in message
        assert "内容被改动" in message
        assert dump(standby.session) == before
        # An event left out: the next one no longer continues the chain.
        removed = copy.deepcopy(feed)
        removed["events"] = [e for e in removed["events"] if not (e["kind"] == "save" and e["seq"] == 1)]
        with pytest.raises(replication.ReplicationError, match="接不上"):
            replication.apply_feed(standby.session, removed)
        assert dump(standby.session) == before
        # The feed as sent applies.
        standby.apply(feed)
        assert dump(standby.session) == dump(session)
    finally:
        standby.close()


def test_a_following_machine_serves_nothing_until_promoted(primary: Flask, sitting: Any, tmp_path: Path) -> None:
    from exam_server.sitenode import standby

    standby.write_state(primary, {"state": standby.FOLLOWING, "primary": "http://127.0.0.1:9", "pid": None})
    primary.extensions.pop("sitenode.standby_state", None)
    refused = primary.test_client().get("/login")
    assert refused.status_code == 503 and "备用服务器" in refused.get_data(as_text=True)
    status = primary.test_cli_runner().invoke(args=["standby", "status"])
    assert "正在跟随" in status.output, status.output

    promoted = primary.test_cli_runner().invoke(args=["standby", "promote", "--no-last-pull"])
    assert promoted.exit_code == 0 and "已接替" in promoted.output, promoted.output
    state = standby.read_state(primary)
    assert state["state"] == standby.PROMOTED and state["epoch"] == 1 and state["local"]["id"] > 0
    primary.extensions.pop("sitenode.standby_state", None)  # a server started after the promotion
    assert primary.test_client().get("/login").status_code == 200
    again = primary.test_cli_runner().invoke(args=["standby", "follow", "--primary", "http://127.0.0.1:9", "--once"])
    assert again.exit_code != 0 and "已经接替" in again.output, again.output
