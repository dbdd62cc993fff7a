"""The results package: site → centre with the same answers and scores, a second import adding nothing, a later
package adding only its new events, and tampered or foreign packages refused naming the attempt and event."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import csrf_token_from
from flask import Flask
from sitenode.conftest import SITE_CODE, Exchange
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from exam_server.core import signing
from exam_server.delivery import steps
from exam_server.delivery.chain import verify_attempt
from exam_server.delivery.models import Attempt, AttemptEvent, Response
from exam_server.delivery.operations import check_in
from exam_server.delivery.paper import form_items
from exam_server.jobs.models import Job
from exam_server.proctoring.operations import log_incident
from exam_server.results.models import Result
from exam_server.sessions.models import ExamSession, Site, Ticket
from exam_server.sitenode import keys, package, results_package
from exam_server.sitenode.package import PackageError
from item_bank.audit import AuditEvent
from item_bank.types import item_type

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _site_sitting(exchange: Exchange, tmp_path: Path) -> ExamSession:
    """The sitting imported and unsealed at the site, every candidate checked in."""
    exchange.import_(exchange.export(tmp_path / "sitting.zip"))
    code = package.release_code_for(exchange.centre, exchange.centre.get(ExamSession, exchange.seeded.exam_session_id),
                                    SITE_CODE)
    package.unseal_paper(exchange.site, exchange.sitting_code, code, "user:chief")
    for attempt in exchange.site.scalars(select(Attempt).order_by(Attempt.id)).all():
        check_in(exchange.site, attempt, "proctor1")
    return exchange.site.scalars(select(ExamSession)).one()


def _sit(site: Session, attempt: Attempt, index: int) -> None:
    """Start and answer: the key for 1/2, 2/3, 3/4 ... of the items by candidate, and a flag."""
    steps.join(site, attempt.id, f"ws-{index}", "candidate", attempt.candidate_id)
    steps.start(site, attempt.id, "candidate", f"ws-{index}", attempt.candidate_id)
    items = form_items(site, attempt.form_id)
    for seq, item_id in enumerate(attempt.item_order, start=1):
        key = items[item_id].content.key
        if seq % (index + 2) and isinstance(key, str):  # choice and true/false items: the key's letters
            value = key if item_type(items[item_id].content.type).check_value(items[item_id].content, key) is None \
                else None
            ack = steps.save_answer(site, attempt.candidate_id, attempt.id, item_id, value, seq, f"k{seq}", f"ws-{index}")
            assert ack["ok"], ack
    flag = steps.set_flag(site, attempt.candidate_id, attempt.id, attempt.item_order[0], True, 99, "f99", f"ws-{index}")
    assert flag["ok"], flag


def _build(exchange: Exchange, exam_session: ExamSession, path: Path) -> Path:
    site_row = exchange.site.scalars(select(Site).where(Site.code == SITE_CODE)).one()
    built = results_package.build_results(exchange.site, exam_session, site_row,
                                          signing.load_private_key(exchange.site_instance), "cli:site")
    path.write_bytes(built.data)
    return path


def _scores(session: Session) -> dict[str, float]:
    rows = session.execute(select(Ticket.number, Result.score).join(Attempt, Attempt.ticket_id == Ticket.id)
                           .join(Result, Result.attempt_id == Attempt.id).where(Result.superseded.is_(False))).all()
    return {t: float(s) for t, s in rows}


def _event_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AttemptEvent)) or 0


def test_results_come_back_with_the_same_answers_and_scores_and_only_new_events(
    app: Flask, exchange: Exchange, tmp_path: Path
) -> None:
    site, centre = exchange.site, exchange.centre
    exam_session = _site_sitting(exchange, tmp_path)
    attempts = site.scalars(select(Attempt).order_by(Attempt.id)).all()
    for index, attempt in enumerate(attempts):
        _sit(site, attempt, index)

    # Mid-exam (a site that crashed, or an early copy): what is there comes in, nothing is scored yet.
    early = results_package.import_results(centre, _build(exchange, exam_session, tmp_path / "r1.zip"), "cli:centre")
    assert early.new_events == _event_count(site) and early.scoring is not None and early.scoring.written == 0
    assert not early.missing_tickets and not early.clock_flags

    # A site clock that was wrong, or set back, is flagged (the log is intact, so it is not refused).
    t0 = exam_session.starts_at
    skewed = [{"kind": "save", "seq": 1, "at": t0}, {"kind": "save", "seq": 2, "at": t0 - dt.timedelta(minutes=6)},
              {"kind": "save", "seq": 3, "at": t0 + dt.timedelta(days=3)}]
    flags = results_package.clock_flags("T1", skewed, t0, t0 + dt.timedelta(hours=2))
    assert len(flags) == 2 and "第 3 个事件（save，序号 3" in flags[0] and "第 2 个事件（save，序号 2" in flags[1]

    log_incident(site, attempts[0], "proctor1", "environment", "空调噪声")
    for index, attempt in enumerate(attempts):
        ack = steps.submit(site, attempt.candidate_id, attempt.id, f"s{index}", f"ws-{index}")
        assert ack["ok"], ack
    later = _build(exchange, exam_session, tmp_path / "r2.zip")
    before = _event_count(centre)
    # Withdrawn at the centre meanwhile, sat at the site anyway: the site's record wins, and it is flagged.
    withdrawn = centre.scalars(select(Ticket).order_by(Ticket.number)).first()
    assert withdrawn is not None
    withdrawn.status = "withdrawn"
    centre.commit()
    report = results_package.import_results(centre, later, "cli:centre")
    assert report.withdrawn_sat == [withdrawn.number] and "已在鉴定中心撤销" in "\n".join(report.lines())
    assert report.new_events == _event_count(site) - before == _event_count(centre) - before > 0
    assert report.new_actions >= 1  # the incident's audit row, as the site's proctor action
    assert centre.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "site.incident")) == 1

    # Same answers, same chains, same scores as scoring at the site itself.
    def answers(session: Session) -> dict[tuple[str, int], tuple[Any, int, bool, int]]:
        return {(t, pos): (r.value, r.seq, r.flagged, r.flag_seq) for t, pos, r in (
            (t, list(a.item_order).index(r.item_version_id), r) for t, a, r in session.execute(
                select(Ticket.number, Attempt, Response).join(Attempt, Attempt.ticket_id == Ticket.id)
                .join(Response, Response.attempt_id == Attempt.id)).all())}

    assert answers(centre) == answers(site) and len(answers(site)) >= 3 * 5
    for attempt_id in centre.scalars(select(Attempt.id)):
        assert verify_attempt(centre, attempt_id).ok  # type: ignore[union-attr]
    from exam_server.results.scoring import score_session

    score_session(site, exam_session, "cli:site")
    assert _scores(centre) == _scores(site) and len(_scores(centre)) == 3
    assert len(set(_scores(centre).values())) > 1  # candidates answered differently: a real comparison

    # The same package again (through the centre's screen, as a job), or the earlier one: nothing new, nothing
    # written.
    def audits() -> int:  # what an import writes: its own row, the site's actions, scoring's rows
        return centre.scalar(select(func.count()).select_from(AuditEvent).where(or_(
            AuditEvent.action.in_(("import_site_results", "score_session")), AuditEvent.action.like("site.%")))) or 0

    before_repeats = audits()
    repeat = results_package.import_results(centre, tmp_path / "r1.zip", "cli:centre")
    assert repeat.nothing_new and repeat.new_events == 0 and repeat.scoring is None
    client = app.test_client()
    token = csrf_token_from(client.get("/staff/login").get_data(as_text=True))
    assert client.post("/staff/login", data={"username": "staff", "password": "pw-staff",
                                             "csrf_token": token}).status_code == 302
    page = client.get("/site-node/results").get_data(as_text=True)
    assert "导入并评分" in page
    sent = client.post("/site-node/results/import", data={"csrf_token": csrf_token_from(page),
                                                         "package": (io.BytesIO(later.read_bytes()), "r2.zip")},
                       content_type="multipart/form-data")
    assert sent.status_code == 302
    job = centre.scalars(select(Job).order_by(Job.id.desc())).first()
    assert job is not None and job.status == "done", (job.status, job.error) if job else None
    assert job.result["new_events"] == 0 and "没有新内容" in job.result["lines"][0]
    assert audits() == before_repeats and _event_count(centre) == _event_count(site)
    listed = client.get("/site-node/results").get_data(as_text=True).split("已导入的成绩数据包")[1]
    assert exchange.sitting_code in listed and SITE_CODE in listed


def _resign(data: bytes, change: Callable[[dict[str, Any]], None], key: Any) -> bytes:
    """The package with `results.json` changed by `change` and the manifest signed again by `key`."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        results = json.loads(zf.read("results.json"))
    change(results)
    body = json.dumps(results, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    manifest["members"]["results.json"] = hashlib.sha256(body).hexdigest()
    manifest["site_key"] = signing.public_key_text(key.public_key())
    head = json.dumps(manifest, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("manifest.json", head)
        zf.writestr("manifest.sig", signing.sign(key, head))
        zf.writestr("results.json", body)
    return out.getvalue()


def test_tampered_or_foreign_packages_are_refused_naming_the_attempt_and_event(
    exchange: Exchange, tmp_path: Path
) -> None:
    site, centre = exchange.site, exchange.centre
    exam_session = _site_sitting(exchange, tmp_path)
    attempt = site.scalars(select(Attempt).order_by(Attempt.id)).first()
    assert attempt is not None
    _sit(site, attempt, 0)
    ticket = attempt.ticket.number
    good = _build(exchange, exam_session, tmp_path / "good.zip").read_bytes()
    site_key = signing.load_private_key(exchange.site_instance)
    events_before = _event_count(centre)

    def refused(data: bytes, *words: str) -> None:
        path = tmp_path / "bad.zip"
        path.write_bytes(data)
        with pytest.raises(PackageError) as caught:
            results_package.import_results(centre, path, "cli:centre")
        for word in words:
            assert word in caught.value.message, caught.value.message
        assert _event_count(centre) == events_before  # nothing half-written

    def entry(results: dict[str, Any]) -> dict[str, Any]:
        return next(a for a in results["attempts"] if a["ticket"] == ticket)

    def saves(results: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
        return [(n, e) for n, e in enumerate(entry(results)["events"], start=1) if e["kind"] == "save"]

    # One byte of the results changed, signature left as it was.
    with zipfile.ZipFile(io.BytesIO(good)) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    body = members["results.json"]
    members["results.json"] = body.replace(b'"save"', b'"savf"', 1)
    flipped = io.BytesIO()
    with zipfile.ZipFile(flipped, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    refused(flipped.getvalue(), "与签名的清单不符")

    # A key the centre never registered for the site (or registered for nobody).
    stranger = signing.Ed25519PrivateKey.generate()
    refused(_resign(good, lambda r: None, stranger), "不是本中心为考点 GZ01 登记的公钥")

    # Re-signed by the site's own key after an edit: the chain names the attempt and the event.
    position, _ = saves(json.loads(zipfile.ZipFile(io.BytesIO(good)).read("results.json")))[1]

    def edit_answer(results: dict[str, Any]) -> None:
        saves(results)[1][1]["payload"]["value"] = "Z"

    refused(_resign(good, edit_answer, site_key), f"准考证 {ticket}", f"第 {position} 个事件（save", "内容被改动")

    def remove_event(results: dict[str, Any]) -> None:
        entry(results)["events"].pop(saves(results)[1][0] - 1)

    refused(_resign(good, remove_event, site_key), f"准考证 {ticket}", f"第 {position} 个事件（save",
            "被删除、插入或调换")

    def edit_response(results: dict[str, Any]) -> None:
        answered = next(r for r in entry(results)["responses"] if r["seq"])
        answered["value"] = "Z"

    refused(_resign(good, edit_response, site_key), f"准考证 {ticket}", "作答与其事件记录不符")

    # Edited in the site's database before the package was made: signed honestly, caught by the chain.
    target = site.scalars(select(AttemptEvent).where(AttemptEvent.attempt_id == attempt.id, AttemptEvent.kind == "save")
                          .order_by(AttemptEvent.id)).all()[1]
    site.execute(update(AttemptEvent).where(AttemptEvent.id == target.id).values(payload={"value": "Z", "applied": True}))
    site.commit()
    refused(_build(exchange, exam_session, tmp_path / "edited.zip").read_bytes(), f"准考证 {ticket}",
            f"第 {position} 个事件（save", "内容被改动")

    # A partial package (the site crashed before all were written): what is there comes in, the rest is named.
    partial = _resign(good, lambda r: r["attempts"].pop(), site_key)
    (tmp_path / "partial.zip").write_bytes(partial)
    dropped = json.loads(zipfile.ZipFile(io.BytesIO(good)).read("results.json"))["attempts"][-1]["ticket"]
    report = results_package.import_results(centre, tmp_path / "partial.zip", "cli:centre")
    assert report.missing_tickets == [dropped] and report.new_events > 0 and f"未包含该考点的 1 名考生：{dropped}" in \
        "\n".join(report.lines())
    events_before = _event_count(centre)

    # A lost key revoked as of a moment before this package was made: refused (one made before it would pass).
    registered = centre.scalars(select(keys.TrustedKey).where(keys.TrustedKey.code == SITE_CODE)).one()
    made = dt.datetime.fromisoformat(json.loads(zipfile.ZipFile(io.BytesIO(good)).read("manifest.json"))["created_at"])
    keys.revoke_key(centre, registered.fingerprint, "cli:test", at=made - dt.timedelta(seconds=1))
    refused(good, "撤销")
