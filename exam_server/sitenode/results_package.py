"""The results package a test site sends back to its centre, and its checked, idempotent import there (issue 18 §3).

A results package is a zip: `manifest.json` (format, package id, time, sitting, site, the site's public key and
the SHA-256 of every other member), `manifest.sig` (the site's Ed25519 signature of the manifest's bytes) and
`results.json`: every attempt of the sitting at the site with its responses and its whole event log as the hash
chain the site wrote (delivery/chain.py), the check-ins and incidents (events of the log, listed for people), and
the proctors' actions (the site's audit rows about the sitting, its rooms and its attempts). Rows are named as
both nodes know them (ticket numbers, item refs, room and sitting codes), never by the site's own ids.

The centre accepts a package only under the key it registered for that site (refused after that key's
revocation), recomputes every chain, replays each log into the answers it implies and refuses the whole package,
naming the attempt and event, when anything was edited. Importing adds only what is new: an attempt's events
already stored must be the package's first ones (same hashes), and the rest are appended with their hashes, so a
second import adds nothing and a later package with more events adds those events only. One transaction; the
sitting is then scored through the results domain's one scoring path, as if it had run at the centre.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import uuid
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.orm import Session

from exam_server.core.signing import SigningError, fingerprint, public_key_text, sign, verify
from exam_server.delivery.chain import GENESIS, describe, item_refs, verify_events
from exam_server.delivery.models import DONE, Attempt, AttemptEvent, Response
from exam_server.results.scoring import ScoringReport, score_session
from exam_server.sessions.models import ExamSession, Room, Seat, SessionRoom, Site, Ticket
from exam_server.sitenode.models import KIND_SITE, TrustedKey
from exam_server.sitenode.package import LIMITS, PackageError, aware_time, iso_or_none
from item_bank.archives import SafeZip
from item_bank.audit import AuditEvent, audit
from item_bank.db import utcnow
from item_bank.kernel import transaction

FORMAT = "exam-results-package/1"
MANIFEST, SIGNATURE, RESULTS = "manifest.json", "manifest.sig", "results.json"
# The attempt's columns a package carries (times as ISO text); the log and the answers are carried apart.
ATTEMPT_TIMES = ("checked_in_at", "started_at", "submitted_at", "late_admitted_at", "deadline_at",
                 "last_activity_at")
ATTEMPT_VALUES = ("status", "submit_reason", "submit_note", "misconduct_code", "remaining_s", "last_seq",
                  "answered_count")
CHECK_IN_KINDS = ("checked_in", "check_in_undone", "admitted_late")
# A site clock is trusted within this much of the sitting's window; an event more than BACKWARDS before the one
# logged ahead of it means the clock was set back. Either is flagged on import, never refused: the log is intact.
CLOCK_MARGIN = dt.timedelta(hours=12)
BACKWARDS = dt.timedelta(minutes=5)
# Audit entities a proctor's action names, and how a package names each.
AUDIT_ENTITIES = ("attempt", "room", "exam_session")
SITE_ACTION_PREFIX = "site."


def _json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _attempt_label(ticket: str) -> str:
    return f"准考证 {ticket} 的作答记录"


# ------------------------------------------------------------------------------------------------ at the site


@dataclass
class BuiltResults:
    data: bytes
    package_id: str
    summary: dict[str, Any]


def _site_attempts(session: Session, exam_session: ExamSession, site: Site) -> list[tuple[Attempt, str]]:
    """The sitting's attempts seated at `site`, with their ticket numbers, in ticket order."""
    rows = session.execute(
        select(Attempt, Ticket.number)
        .join(Ticket, Ticket.id == Attempt.ticket_id)
        .join(Seat, Seat.id == Ticket.seat_id)
        .join(Room, Room.id == Seat.room_id)
        .where(Attempt.session_id == exam_session.id, Room.site_id == site.id)
        .order_by(Ticket.number)
    ).all()
    return [(a, number) for a, number in rows]


def _proctor_actions(session: Session, exam_session: ExamSession, tickets: dict[int, str],
                     rooms: dict[int, str]) -> list[dict[str, Any]]:
    """The site's audit rows about the sitting, its rooms at the site and its attempts, named by code."""
    refs = {("attempt", str(i)): t for i, t in tickets.items()}
    refs.update({("room", str(i)): code for i, code in rooms.items()})
    refs[("exam_session", str(exam_session.id))] = exam_session.code
    wanted = defaultdict(list)
    for entity, entity_id in refs:
        wanted[entity].append(entity_id)
    rows = session.scalars(
        select(AuditEvent).where(or_(*(
            (AuditEvent.entity == entity) & AuditEvent.entity_id.in_(ids) for entity, ids in wanted.items()
        ))).order_by(AuditEvent.id)
    ).all()
    return [{"at": iso_or_none(r.at), "actor": r.actor, "action": r.action, "entity": r.entity,
             "ref": refs[(r.entity, r.entity_id)], "reason": r.reason, "before": r.before, "after": r.after}
            for r in rows]


def build_results(session: Session, exam_session: ExamSession, site: Site, private_key: Ed25519PrivateKey,
                  actor: str) -> BuiltResults:
    """The signed results package of `exam_session` at `site`: every attempt there with its answers and its
    event log (chain and all), check-ins, incidents and the proctors' actions. Audited and committed.

    An attempt whose chain does not verify here is still sent (the centre will refuse it, naming the event);
    the summary lists it so the site knows before the package travels."""
    attempts = _site_attempts(session, exam_session, site)
    ids = [a.id for a, _ in attempts]
    events: dict[int, list[Any]] = defaultdict(list)
    answers: dict[int, list[Any]] = defaultdict(list)
    if ids:
        for row in session.execute(
            select(AttemptEvent.attempt_id, AttemptEvent.kind, AttemptEvent.actor, AttemptEvent.at,
                   AttemptEvent.item_version_id, AttemptEvent.seq, AttemptEvent.key, AttemptEvent.payload,
                   AttemptEvent.prev_hash, AttemptEvent.hash)
            .where(AttemptEvent.attempt_id.in_(ids)).order_by(AttemptEvent.attempt_id, AttemptEvent.id)
        ):
            events[row.attempt_id].append(row)
        for row in session.execute(
            select(Response.attempt_id, Response.item_version_id, Response.value, Response.seq, Response.saved_at,
                   Response.flagged, Response.flag_seq).where(Response.attempt_id.in_(ids)).order_by(Response.id)
        ):
            answers[row.attempt_id].append(row)
    versions = {v for a, _ in attempts for v in a.item_order}
    versions |= {e.item_version_id for log in events.values() for e in log if e.item_version_id is not None}
    refs = item_refs(session, versions)
    out_attempts, check_ins, incidents, broken = [], [], [], []
    for attempt, ticket in attempts:
        log = events.get(attempt.id, [])
        report = verify_events(log, attempt.last_event_hash, refs=refs)
        if report.broken is not None:
            broken.append(report.broken.message(_attempt_label(ticket)))
        entry: dict[str, Any] = {"ticket": ticket, "form": attempt.form.code,
                                 "item_order": [refs[v] for v in attempt.item_order],
                                 "head": attempt.last_event_hash or GENESIS}
        entry.update({name: iso_or_none(getattr(attempt, name)) for name in ATTEMPT_TIMES})
        entry.update({name: getattr(attempt, name) for name in ATTEMPT_VALUES})
        entry["responses"] = [{"item": refs[r.item_version_id], "value": r.value, "seq": r.seq,
                               "saved_at": iso_or_none(r.saved_at), "flagged": r.flagged, "flag_seq": r.flag_seq}
                              for r in answers.get(attempt.id, [])]
        entry["events"] = [{"kind": e.kind, "actor": e.actor, "at": iso_or_none(e.at),
                            "item": refs.get(e.item_version_id) if e.item_version_id is not None else None,
                            "seq": e.seq, "key": e.key, "payload": e.payload, "prev_hash": e.prev_hash,
                            "hash": e.hash} for e in log]
        out_attempts.append(entry)
        for position, e in enumerate(log, start=1):
            if e.kind in CHECK_IN_KINDS:
                check_ins.append({"ticket": ticket, "kind": e.kind, "at": iso_or_none(e.at), "actor": e.actor,
                                  "event": position})
            elif e.kind == "incident":
                incidents.append({"ticket": ticket, "at": iso_or_none(e.at), "actor": e.actor, "event": position,
                                  **{k: e.payload.get(k) for k in ("category", "reason", "scope")}})
    tickets = {a.id: t for a, t in attempts}
    rooms = {r.id: r.code for r in session.scalars(
        select(Room).join(SessionRoom, SessionRoom.room_id == Room.id)
        .where(SessionRoom.session_id == exam_session.id, Room.site_id == site.id))}
    results = {"sitting": exam_session.code, "site": site.code, "attempts": out_attempts, "check_ins": check_ins,
               "incidents": incidents, "proctor_actions": _proctor_actions(session, exam_session, tickets, rooms)}
    results_bytes = _json(results)
    package_id = uuid.uuid4().hex
    now = utcnow()
    manifest = {"format": FORMAT, "package_id": package_id, "created_at": now.isoformat(),
                "sitting": exam_session.code, "site": site.code,
                "site_key": public_key_text(private_key.public_key()),
                "counts": {"attempts": len(out_attempts), "events": sum(len(a["events"]) for a in out_attempts)},
                "members": {RESULTS: hashlib.sha256(results_bytes).hexdigest()}}
    manifest_bytes = _json(manifest)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST, manifest_bytes)
        zf.writestr(SIGNATURE, sign(private_key, manifest_bytes))
        zf.writestr(RESULTS, results_bytes)
    summary = {"sitting": exam_session.code, "site": site.code, "package_id": package_id,
               "attempts": len(out_attempts), "submitted": sum(1 for a, _ in attempts if a.status in DONE),
               "events": manifest["counts"]["events"], "check_ins": len(check_ins), "incidents": len(incidents),
               "proctor_actions": len(results["proctor_actions"]), "broken": broken}
    audit(session, actor, "export_site_results", "exam_session", exam_session.id, after=summary)
    session.commit()
    return BuiltResults(buffer.getvalue(), package_id, summary)


# ------------------------------------------------------------------------------------------------ at the centre


@dataclass
class OpenedResults:
    manifest: dict[str, Any]
    results: dict[str, Any]
    key: TrustedKey
    digest: str


def open_results(session: Session, path: Path | str, *, name: str | None = None) -> OpenedResults:
    """Read a results package and check it against the key this centre registered for its site: signature,
    key in force when the package was made, every member's hash. Refused with the reason; nothing is written."""
    label = name or Path(path).name
    raw = Path(path).read_bytes()
    with SafeZip(path, name=label, limits=LIMITS) as zf:
        names = set(zf.namelist())
        for needed in (MANIFEST, SIGNATURE, RESULTS):
            if needed not in names:
                raise PackageError(f"{label} 不是考点成绩数据包：缺少 {needed}", code="not_a_package")
        manifest_bytes, signature = zf.read(MANIFEST), zf.read(SIGNATURE)
        try:
            manifest = json.loads(manifest_bytes)
        except ValueError as exc:
            raise PackageError(f"{label} 的清单 {MANIFEST} 无法读取", code="bad_manifest") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise PackageError(f"{label} 的格式不是 {FORMAT}", code="bad_manifest")
        site_code, signer = str(manifest.get("site") or ""), str(manifest.get("site_key") or "")
        key = session.scalar(select(TrustedKey).where(TrustedKey.kind == KIND_SITE, TrustedKey.code == site_code,
                                                      TrustedKey.public_key == signer))
        if key is None:
            shown = fingerprint(signer) if signer else "（无）"
            raise PackageError(f"成绩数据包由指纹为 {shown} 的密钥签名，不是本中心为考点 {site_code} 登记的公钥，拒绝导入",
                               code="unknown_site_key")
        try:
            verify(key.public_key, manifest_bytes, signature, what="考点成绩数据包清单")
        except SigningError as exc:
            raise PackageError(exc.message, code="bad_signature") from exc
        created = aware_time(manifest.get("created_at"))
        if key.revoked_at is not None and (created is None or created >= key.revoked_at):
            raise PackageError(f"考点 {site_code} 的公钥（指纹 {key.fingerprint}）已于 {key.revoked_at:%Y-%m-%d %H:%M} (UTC) "
                               "撤销，此后签名的成绩数据包一律拒绝", code="revoked_site_key")
        listed = manifest.get("members") or {}
        extra = sorted(names - set(listed) - {MANIFEST, SIGNATURE})
        if extra or set(listed) != {RESULTS}:
            raise PackageError(f"成绩数据包的文件与签名的清单不符：{'、'.join(extra[:5]) or '缺少文件'}", code="tampered")
        data = zf.read(RESULTS)
        if hashlib.sha256(data).hexdigest() != listed[RESULTS]:
            raise PackageError(f"成绩数据包中的 {RESULTS} 与签名的清单不符（内容被改动过），拒绝导入", code="tampered")
    try:
        results = json.loads(data)
    except ValueError as exc:
        raise PackageError(f"成绩数据包中的 {RESULTS} 无法读取", code="bad_manifest") from exc
    if results.get("sitting") != manifest.get("sitting") or results.get("site") != site_code:
        raise PackageError("成绩数据包的清单与内容所述的场次或考点不一致", code="tampered")
    return OpenedResults(manifest, results, key, hashlib.sha256(raw).hexdigest())


def replay_answers(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The answers a log implies, per item ref: the applied save and flag with the highest seq (delivery/steps.py
    keeps exactly those)."""
    out: dict[str, dict[str, Any]] = {}
    for e in events:
        payload = e.get("payload") or {}
        if e["kind"] not in ("save", "flag") or not payload.get("applied") or e.get("item") is None:
            continue
        answer = out.setdefault(e["item"], {"value": None, "seq": 0, "saved_at": None, "flagged": False,
                                            "flag_seq": 0})
        if e["kind"] == "save" and e["seq"] > answer["seq"]:
            answer.update(value=payload.get("value"), seq=e["seq"], saved_at=e["at"])
        elif e["kind"] == "flag" and e["seq"] > answer["flag_seq"]:
            answer.update(flagged=bool(payload.get("flagged")), flag_seq=e["seq"])
    return out


def _check_attempt(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The package's log of one attempt with times parsed, once its chain and answers check; refused otherwise,
    naming the attempt and the event (or item)."""
    label = _attempt_label(str(entry.get("ticket")))
    events = [{**e, "at": aware_time(e.get("at"))} for e in entry.get("events") or []]
    report = verify_events(events, entry.get("head") or GENESIS)
    if report.broken is not None:
        raise PackageError(report.broken.message(label) + "，拒绝导入", code="broken_chain")
    implied = replay_answers(events)
    stated = {r["item"]: r for r in entry.get("responses") or [] if r.get("seq") or r.get("flag_seq")}
    for ref in sorted(set(implied) | set(stated)):
        want, got = implied.get(ref), stated.get(ref)
        same = want is not None and got is not None and all(
            want[k] == got.get(k) for k in ("value", "seq", "flagged", "flag_seq"))
        if not same:
            raise PackageError(f"{label}中试题 {ref} 的作答与其事件记录不符（作答被改动过），拒绝导入",
                               code="answer_mismatch")
    return events


def clock_flags(ticket: str, events: list[dict[str, Any]], starts_at: dt.datetime,
                ends_at: dt.datetime) -> list[str]:
    """What a wrong clock at the site left in one attempt's log: an event far outside the sitting's window, an
    event logged well before the one ahead of it (the clock set back). Chinese lines, at most one of each."""
    label, out = _attempt_label(ticket), []
    low, high = starts_at - CLOCK_MARGIN, ends_at + CLOCK_MARGIN
    for n, e in enumerate(events, start=1):
        if not low <= e["at"] <= high:
            out.append(f"{label}的{describe(n, e)}不在考试时间前后 12 小时内：考点服务器的时钟可能有误")
            break
    for n in range(2, len(events) + 1):
        if events[n - 1]["at"] < events[n - 2]["at"] - BACKWARDS:
            out.append(f"{label}的{describe(n, events[n - 1])}比前一个事件早 5 分钟以上：考点服务器的时钟被回拨过")
            break
    return out


@dataclass
class ImportReport:
    """What importing a results package did (or, for a second import of it, did not)."""

    sitting: str
    site: str
    package_id: str
    attempts: int = 0
    new_events: int = 0
    updated_attempts: list[str] = field(default_factory=list)
    unchanged_attempts: int = 0
    missing_tickets: list[str] = field(default_factory=list)
    new_actions: int = 0
    clock_flags: list[str] = field(default_factory=list)
    # Candidates withdrawn at the centre who sat at the site anyway: the site's record wins for the sitting.
    withdrawn_sat: list[str] = field(default_factory=list)
    scoring: ScoringReport | None = None

    @property
    def nothing_new(self) -> bool:
        return self.new_events == 0 and self.new_actions == 0

    def lines(self) -> list[str]:
        head = (f"考点 {self.site} 考试场次 {self.sitting} 的成绩数据包：{self.attempts} 份作答记录，"
                f"新增事件 {self.new_events} 个（{len(self.updated_attempts)} 份作答记录有新内容，"
                f"{self.unchanged_attempts} 份无变化），新增监考操作记录 {self.new_actions} 条")
        out = [head if not self.nothing_new else head + "：数据包中没有新内容，未做任何改动"]
        if self.missing_tickets:
            out.append(f"数据包未包含该考点的 {len(self.missing_tickets)} 名考生："
                       f"{'、'.join(self.missing_tickets[:20])}{' 等' if len(self.missing_tickets) > 20 else ''}")
        out.extend(f"时钟提示：{line}" for line in self.clock_flags)
        if self.withdrawn_sat:
            out.append(f"{len(self.withdrawn_sat)} 名考生的准考证已在鉴定中心撤销，但在考点参加了考试（以考点记录为准，已导入，"
                       f"请核查）：{'、'.join(self.withdrawn_sat)}")
        if self.scoring is not None:
            out.extend(self.scoring.lines())
        return out

    def summary(self) -> dict[str, Any]:
        return {"sitting": self.sitting, "site": self.site, "package_id": self.package_id,
                "attempts": self.attempts, "new_events": self.new_events,
                "updated_attempts": self.updated_attempts, "unchanged_attempts": self.unchanged_attempts,
                "missing_tickets": self.missing_tickets, "new_actions": self.new_actions,
                "clock_flags": self.clock_flags, "withdrawn_sat": self.withdrawn_sat}


_E = AttemptEvent.__table__


def _centre_attempts(session: Session, exam_session: ExamSession) -> dict[str, tuple[Attempt, str | None]]:
    """The sitting's attempts by ticket number, with the code of the site each is seated at (None: no seat, as a
    withdrawn ticket has)."""
    rows = session.execute(
        select(Attempt, Ticket.number, Site.code)
        .join(Ticket, Ticket.id == Attempt.ticket_id)
        .outerjoin(Seat, Seat.id == Ticket.seat_id).outerjoin(Room, Room.id == Seat.room_id)
        .outerjoin(Site, Site.id == Room.site_id)
        .where(Attempt.session_id == exam_session.id)
    ).all()
    return {number: (attempt, site) for attempt, number, site in rows}


@dataclass
class _Writes:
    """What an import writes, gathered over all attempts and written at the end, a statement per kind: events (in
    log order, so their ids follow the chains), attempts' state, new and changed answers."""

    events: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    new: list[dict[str, Any]] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)


_R, _A = Response.__table__, Attempt.__table__
_ATTEMPT_COLUMNS = (*ATTEMPT_TIMES, *ATTEMPT_VALUES, "last_event_hash")


def _write(session: Session, writes: _Writes) -> None:
    # Core on the session's connection: the events keep the hashes the site gave them (the ORM's flush hook would
    # chain them anew), and nothing here needs ORM objects.
    connection = session.connection()
    if writes.events:
        connection.execute(insert(_E), writes.events)
    if writes.attempts:
        connection.execute(update(_A).where(_A.c.id == bindparam("b_id")).values(
            {c: bindparam(f"b_{c}", type_=_A.c[c].type) for c in _ATTEMPT_COLUMNS}), writes.attempts)
    if writes.new:
        connection.execute(insert(_R), writes.new)
    if writes.changed:
        connection.execute(update(_R).where(_R.c.id == bindparam("b_id")).values(
            {c: bindparam(f"b_{c}", type_=_R.c[c].type) for c in ("value", "seq", "saved_at", "flagged", "flag_seq")}),
            writes.changed)


def _import_attempt(attempt: Attempt, entry: dict[str, Any], events: list[dict[str, Any]],
                    ref_to_id: dict[str, int], stored: list[str], have: dict[int, int], writes: _Writes) -> int:
    """Append the package's events this attempt does not have yet and take its state and answers from the
    package; returns how many events were new. The stored log and the package's must agree as far as both go."""
    label = _attempt_label(entry["ticket"])
    # An earlier package's log is a beginning of what is stored: nothing new. Any other difference is a fork.
    for position, (kept, sent) in enumerate(zip(stored, events, strict=False), start=1):
        if sent["hash"] != kept:
            raise PackageError(f"{label}在本中心已有的第 {position} 个事件与数据包中的不同（两边的记录分叉），拒绝导入",
                               code="diverged")
    fresh = events[len(stored):]
    if not fresh:
        return 0
    for e in fresh:
        item = e.get("item")
        if item is not None and item not in ref_to_id:
            raise PackageError(f"{label}的事件引用了不在其试卷上的试题 {item}，拒绝导入", code="unknown_item")
        writes.events.append({"attempt_id": attempt.id, "at": e["at"], "kind": e["kind"], "actor": e["actor"],
                              "item_version_id": ref_to_id[item] if item is not None else None, "seq": e.get("seq"),
                              "key": e.get("key"), "payload": e.get("payload") or {}, "ack": None,
                              "prev_hash": e["prev_hash"], "hash": e["hash"]})
    changes: dict[str, Any] = {name: aware_time(entry.get(name)) for name in ATTEMPT_TIMES}
    changes.update({name: entry.get(name, getattr(attempt, name)) for name in ATTEMPT_VALUES})
    if attempt.status in DONE and changes.get("status") in DONE:
        changes["status"] = attempt.status  # scored here already: scoring decides again below
    changes["last_event_hash"] = entry.get("head") or GENESIS
    writes.attempts.append({"b_id": attempt.id, **{f"b_{k}": v for k, v in changes.items()}})
    for ref, answer in replay_answers(events).items():
        version_id = ref_to_id[ref]
        values = {"value": answer["value"], "seq": answer["seq"], "saved_at": answer["saved_at"],
                  "flagged": answer["flagged"], "flag_seq": answer["flag_seq"]}
        response_id = have.get(version_id)
        if response_id is None:
            writes.new.append({"attempt_id": attempt.id, "item_version_id": version_id, **values})
        else:
            writes.changed.append({"b_id": response_id, **{f"b_{k}": v for k, v in values.items()}})
    return len(fresh)


def _import_actions(session: Session, results: dict[str, Any], exam_session: ExamSession, site_code: str,
                    attempts: dict[str, tuple[Attempt, str | None]]) -> int:
    """The site's proctor actions as audit rows here (action `site.<action>`, actor `<site>/<user>`), each once."""
    rooms = {code: rid for code, rid in session.execute(
        select(Room.code, Room.id).join(Site, Site.id == Room.site_id).where(Site.code == site_code))}
    # Each row is known by the digest of what the site sent, kept with it (`after.row`).
    known = {(after or {}).get("row") for after in session.scalars(
        select(AuditEvent.after).where(AuditEvent.action.like(f"{SITE_ACTION_PREFIX}%"),
                                       AuditEvent.actor.like(f"{site_code}/%")))}
    added = 0
    for row in results.get("proctor_actions") or []:
        digest = hashlib.sha256(_json(row)).hexdigest()
        if digest in known:
            continue
        entity, ref = row.get("entity"), str(row.get("ref"))
        if entity == "attempt" and ref in attempts:
            entity_id: Any = attempts[ref][0].id
        elif entity == "room" and ref in rooms:
            entity_id = rooms[ref]
        elif entity == "exam_session":
            entity_id = exam_session.id
        else:
            entity_id = ref
        at = aware_time(row.get("at")) or utcnow()
        session.add(AuditEvent(at=at, actor=f"{site_code}/{row.get('actor')}"[:120],
                               action=f"{SITE_ACTION_PREFIX}{row.get('action')}"[:80], entity=str(entity)[:40],
                               entity_id=str(entity_id), before=row.get("before"),
                               after={"site": site_code, "ref": ref, "row": digest, "after": row.get("after")},
                               reason=str(row.get("reason") or "")[:500]))
        known.add(digest)
        added += 1
    return added


def import_results(session: Session, path: Path | str, actor: str, *, name: str | None = None,
                   score: bool = True) -> ImportReport:
    """Check a results package (signature under the site's registered key, every chain, every answer against its
    log) and import what is new in one transaction; then score the sitting as the centre scores any sitting.

    Refused as a whole, naming the attempt and the event, when anything was edited; nothing is written then."""
    opened = open_results(session, path, name=name)
    manifest, results = opened.manifest, opened.results
    sitting_code, site_code = str(manifest["sitting"]), str(manifest["site"])
    exam_session = session.scalar(select(ExamSession).where(ExamSession.code == sitting_code))
    if exam_session is None:
        raise PackageError(f"本中心没有考试场次 {sitting_code}", code="wrong_sitting", status=404)
    checked = [(entry, _check_attempt(entry)) for entry in results.get("attempts") or []]
    attempts = _centre_attempts(session, exam_session)
    report = ImportReport(sitting_code, site_code, str(manifest.get("package_id")), attempts=len(checked))
    sent = {str(entry.get("ticket")) for entry, _ in checked}
    report.missing_tickets = sorted(t for t, (_, site) in attempts.items() if site == site_code and t not in sent)
    ends_at = exam_session.ends_at + dt.timedelta(minutes=exam_session.late_entry_min or 0)
    for entry, events in checked:
        report.clock_flags += clock_flags(str(entry.get("ticket")), events, exam_session.starts_at, ends_at)
    ids = [a.id for a, _ in attempts.values()]
    have: dict[int, dict[int, int]] = defaultdict(dict)
    for attempt_id, version_id, response_id in session.execute(
        select(Response.attempt_id, Response.item_version_id, Response.id).where(Response.attempt_id.in_(ids))
    ):
        have[attempt_id][version_id] = response_id
    stored: dict[int, list[str]] = defaultdict(list)
    for attempt_id, stored_hash in session.execute(
        select(AttemptEvent.attempt_id, AttemptEvent.hash).where(AttemptEvent.attempt_id.in_(ids))
        .order_by(AttemptEvent.attempt_id, AttemptEvent.id)
    ):
        stored[attempt_id].append(stored_hash)
    writes = _Writes()
    with transaction(session):
        for entry, events in checked:
            ticket = str(entry.get("ticket"))
            found = attempts.get(ticket)
            if found is None:
                raise PackageError(f"{_attempt_label(ticket)}不属于本中心的考试场次 {sitting_code}，拒绝导入",
                                   code="unknown_ticket")
            attempt = found[0]
            if attempt.ticket.status != "active" and any(e["kind"] == "started" for e in events):
                report.withdrawn_sat.append(ticket)
            refs = item_refs(session, attempt.item_order)
            order = [refs.get(v) for v in attempt.item_order]
            if order != entry.get("item_order"):
                raise PackageError(f"{_attempt_label(ticket)}的试卷与本中心编排的不一致（试题或顺序不同），拒绝导入",
                                   code="wrong_paper")
            added = _import_attempt(attempt, entry, events, {r: v for v, r in refs.items()},
                                    stored[attempt.id], have[attempt.id], writes)
            if added:
                report.new_events += added
                report.updated_attempts.append(ticket)
            else:
                report.unchanged_attempts += 1
        _write(session, writes)
        report.new_actions = _import_actions(session, results, exam_session, site_code, attempts)
        if not report.nothing_new:
            audit(session, actor, "import_site_results", "exam_session", exam_session.id,
                  after={**report.summary(), "key": opened.key.fingerprint, "digest": opened.digest})
    session.expire_all()
    if score and report.new_events:
        report.scoring = score_session(session, exam_session, actor, reason=f"考点 {site_code} 成绩数据包导入")
    return report
