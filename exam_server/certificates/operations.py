"""Issuing, revoking and reissuing certificates; every write in its own transaction and audited.

A certificate is issued from a stored, passed, released level outcome (results.outcomes.passed_outcomes); what it
says (name, ID number, scores, date) is copied from that outcome and the candidate, so the print and the
verification page stay as issued. One valid certificate per candidate and level: issuing again skips those who
hold one, so a sitting's batch may be run twice.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.certificates.models import REPLACED, REVOKED, VALID, Certificate
from exam_server.certificates.numbering import CertificateError, compose, issuing_of, new_code, take_serials
from exam_server.core.timefmt import DISPLAY_ZONE
from exam_server.results.models import LevelOutcome
from exam_server.results.outcomes import passed_outcomes
from exam_server.sessions.models import Candidate, ExamSession
from item_bank.audit import audit
from item_bank.db import begin_write, utcnow

# Certificates written per transaction in a batch: short enough that candidates' saves on SQLite wait little.
CHUNK = 250


@dataclass(frozen=True)
class Facts:
    """What a certificate states, taken from a level outcome (or given by a test or the benchmark)."""

    candidate_id: int
    level: int
    centre_id: int
    theory_score: float | None
    theory_exempt: bool
    skill_score: float | None
    sitting_id: int | None = None
    outcome_id: int | None = None


def today() -> dt.date:
    return utcnow().astimezone(DISPLAY_ZONE).date()


def facts_of(session: Session, outcome: LevelOutcome) -> Facts:
    """A passed outcome's facts; the centre is that of the sitting of its latest part."""
    sitting_id = outcome.skill_session_id or outcome.theory_session_id
    sitting = session.get(ExamSession, sitting_id) if sitting_id else None
    if sitting is None or sitting.centre_id is None:
        raise CertificateError(f"考生 #{outcome.candidate_id} 的等级结果没有所属鉴定中心的场次，无法发证。")
    return Facts(outcome.candidate_id, outcome.level, sitting.centre_id, outcome.theory_score,
                 outcome.theory_exempt, outcome.skill_score, sitting_id, outcome.id)


def _holders(session: Session, pairs: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Those (candidate, level) of `pairs` that hold a valid certificate already."""
    if not pairs:
        return set()
    ids = {c for c, _ in pairs}
    rows = session.execute(select(Certificate.candidate_id, Certificate.level).where(
        Certificate.candidate_id.in_(ids), Certificate.status == VALID))
    return {(c, lv) for c, lv in rows} & pairs


def issue(session: Session, facts: Sequence[Facts], actor: str, *, issued_on: dt.date | None = None,
          progress: Callable[[int, int], None] | None = None) -> list[Certificate]:
    """Issue a certificate for each of `facts` that has none yet, CHUNK per transaction; the serials of a
    transaction come from one locked counter row per (centre, level, year). Returns the new certificates."""
    issued_on = issued_on or today()
    year = issued_on.year
    made: list[Certificate] = []
    todo = list(facts)
    for start in range(0, len(todo), CHUNK):
        chunk = todo[start:start + CHUNK]
        session.commit()
        begin_write(session)
        try:
            held = _holders(session, {(f.candidate_id, f.level) for f in chunk})
            seen: set[tuple[int, int]] = set()
            groups: dict[tuple[int, int], list[Facts]] = defaultdict(list)
            for f in chunk:
                key = (f.candidate_id, f.level)
                if key in held or key in seen:
                    continue
                seen.add(key)
                groups[(f.centre_id, f.level)].append(f)
            people = {c.id: c for c in session.scalars(
                select(Candidate).where(Candidate.id.in_({f.candidate_id for f in chunk})))}
            # A fixed order of locks (centre, level) so two batches never wait on each other in a circle.
            for (centre_id, level), group in sorted(groups.items()):
                issuing = issuing_of(session, centre_id)
                serials = take_serials(session, centre_id, level, year, len(group))
                for f, serial in zip(group, serials, strict=True):
                    person = people[f.candidate_id]
                    cert = Certificate(
                        number=compose(issuing, level, year, serial), code=new_code(), candidate_id=person.id,
                        outcome_id=f.outcome_id, sitting_id=f.sitting_id, centre_id=centre_id, level=level,
                        name=person.name, id_number=person.id_number, theory_score=f.theory_score,
                        theory_exempt=f.theory_exempt, skill_score=f.skill_score, issued_on=issued_on,
                        issuer=issuing.issuer, status=VALID, status_reason="", created_by=actor[:120])
                    session.add(cert)
                    made.append(cert)
            session.flush()
            for cert in made[len(made) - sum(len(g) for g in groups.values()):]:
                audit(session, actor, "certificate.issue", "certificate", cert.id,
                      after={"number": cert.number, "candidate_id": cert.candidate_id, "level": cert.level,
                             "outcome_id": cert.outcome_id})
            session.commit()
        except BaseException:
            session.rollback()
            raise
        if progress is not None:
            progress(min(start + CHUNK, len(todo)), len(todo))
    return made


def issue_for_sitting(session: Session, sitting_id: int, actor: str, *,
                      progress: Callable[[int, int], None] | None = None) -> list[Certificate]:
    """Certificates for every passed, released outcome of a sitting's candidates that has none yet."""
    if session.get(ExamSession, sitting_id) is None:
        raise CertificateError(f"场次 #{sitting_id} 不存在。")
    facts = [facts_of(session, o) for o in passed_outcomes(session, sitting_id=sitting_id)]
    session.commit()
    return issue(session, facts, actor, progress=progress)


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise CertificateError("请填写原因。")
    return reason[:500]


def _valid(session: Session, certificate_id: int) -> Certificate:
    cert = session.get(Certificate, certificate_id, with_for_update=True, populate_existing=True)
    if cert is None:
        raise CertificateError("证书不存在。", status=404)
    if cert.status != VALID:
        raise CertificateError(f"证书 {cert.number} 已不是有效状态，不能再操作。")
    return cert


def revoke(session: Session, certificate_id: int, reason: str, actor: str) -> Certificate:
    """Revoke (撤销) a valid certificate with a reason; verification then says so."""
    why = _reason(reason)
    session.commit()
    begin_write(session)
    try:
        cert = _valid(session, certificate_id)
        cert.status, cert.status_reason, cert.changed_at = REVOKED, why, utcnow()
        audit(session, actor, "certificate.revoke", "certificate", cert.id, before={"status": VALID},
              after={"status": REVOKED, "reason": why})
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return cert


def reissue(session: Session, certificate_id: int, reason: str, actor: str) -> Certificate:
    """Reissue (补发/换发) a valid certificate: a new number and code stating the same; the old one is kept,
    marked replaced (verification reports it as no longer valid)."""
    why = _reason(reason)
    session.commit()
    begin_write(session)
    try:
        old = _valid(session, certificate_id)
        issued_on = today()
        issuing = issuing_of(session, old.centre_id)
        (serial,) = take_serials(session, old.centre_id, old.level, issued_on.year, 1)
        new = Certificate(
            number=compose(issuing, old.level, issued_on.year, serial), code=new_code(),
            candidate_id=old.candidate_id, outcome_id=old.outcome_id, sitting_id=old.sitting_id,
            centre_id=old.centre_id, level=old.level, name=old.name, id_number=old.id_number,
            theory_score=old.theory_score, theory_exempt=old.theory_exempt, skill_score=old.skill_score,
            issued_on=issued_on, issuer=issuing.issuer, status=VALID, status_reason=f"补发：{why}",
            replaces_id=old.id, created_by=actor[:120])
        old.status, old.status_reason, old.changed_at = REPLACED, why, utcnow()
        session.add(new)
        session.flush()
        audit(session, actor, "certificate.reissue", "certificate", new.id,
              before={"certificate_id": old.id, "number": old.number, "status": VALID},
              after={"number": new.number, "reason": why})
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return new
