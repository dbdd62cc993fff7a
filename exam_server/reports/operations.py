"""The province's side of the centres' reports: registering a centre's public key, importing a signed period
file (verified first; nothing stored when it is refused), and the summary of every centre's current files.
Each change is one transaction with its audit row."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from exam_server.organisations.models import Centre
from exam_server.reports import figures as F
from exam_server.reports import signing
from exam_server.reports.models import CentreReportImport, CentreReportKey
from item_bank.audit import audit


def centre_by_code(session: Session, code: str) -> Centre:
    centre = session.scalar(select(Centre).where(Centre.code == (code or "").strip()))
    if centre is None:
        raise F.ReportError(f"没有代码为 {code} 的鉴定中心。", field="鉴定中心", status=404)
    return centre


def active_key(session: Session, centre_id: int) -> CentreReportKey | None:
    return session.scalar(select(CentreReportKey).where(CentreReportKey.centre_id == centre_id,
                                                        CentreReportKey.active.is_(True))
                          .order_by(CentreReportKey.id.desc()).limit(1))


def register_key(session: Session, centre: Centre, public_key: str, actor: str) -> CentreReportKey:
    """Register `public_key` as the centre's report key (the previous one, if any, stops being accepted)."""
    text, fingerprint = signing.parse_public(public_key)
    current = active_key(session, centre.id)
    if current is not None and current.public_key == text:
        return current
    if current is not None:
        current.active = False
    key = CentreReportKey(centre_id=centre.id, public_key=text, fingerprint=fingerprint, registered_by=actor[:120])
    session.add(key)
    session.flush()
    audit(session, actor, "report_key.register", "centre_report_key", key.id,
          before={"fingerprint": current.fingerprint} if current is not None else None,
          after={"centre": centre.code, "fingerprint": fingerprint})
    session.commit()
    return key


@dataclass
class Imported:
    """What an import did: `row` the file's stored row; `created` False when the same file was there already."""

    row: CentreReportImport
    created: bool
    replaced: CentreReportImport | None = None

    def message(self) -> str:
        c, r = self.row.centre, self.row
        period = f"{r.period_from} 至 {r.period_to}"
        if not self.created:
            return f"{c.name}（{c.code}）{period} 的报送文件已导入过，未做任何更改。"
        if self.replaced is not None:
            return f"已导入 {c.name}（{c.code}）{period} 的报送文件，替换此前导入的同期文件（第 {self.replaced.id} 号）。"
        return f"已导入 {c.name}（{c.code}）{period} 的报送文件。"


def import_file(session: Session, envelope: dict[str, Any], actor: str, name: str) -> Imported:
    """Verify a centre's signed file against its registered key and store it; refused with the reason (unknown
    centre, no key, a key other than the registered one, a bad signature, a payload of another centre) before
    anything is written. The same file again changes nothing."""
    centre = session.scalar(select(Centre).where(Centre.code == envelope["centre"]))
    if centre is None:
        raise F.ReportError(f"{name}：未知的鉴定中心 {envelope['centre']}（本省没有这个中心），未导入。",
                            code="unknown_centre")
    key = active_key(session, centre.id)
    if key is None:
        raise F.ReportError(f"{name}：鉴定中心 {centre.name}（{centre.code}）尚未在省级登记报送公钥，未导入。"
                            "请先登记该中心的公钥。", code="unknown_key")
    if envelope["key"] != key.fingerprint:
        raise F.ReportError(f"{name}：文件由密钥 {envelope['key']} 签发，与 {centre.name} 登记的公钥（{key.fingerprint}）"
                            "不符，未导入。", code="bad_signature")
    figures = signing.verify(envelope, key.public_key, name)
    if figures.get("centre") != centre.code:
        raise F.ReportError(f"{name}：报送内容属于鉴定中心 {figures.get('centre')}，与文件所称的 {centre.code} 不符，未导入。",
                            code="bad_signature")
    try:
        period = F.Period.parse(figures["period"].get("from"), figures["period"].get("to"))
    except F.ReportError as exc:
        raise F.ReportError(f"{name}：{exc.message}未导入。") from None
    digest = signing.digest(envelope)
    same = session.scalar(select(CentreReportImport).where(CentreReportImport.digest == digest))
    if same is not None:
        return Imported(same, created=False)
    earlier = session.scalar(select(CentreReportImport).where(
        CentreReportImport.centre_id == centre.id, CentreReportImport.period_from == period.start,
        CentreReportImport.period_to == period.end, CentreReportImport.superseded.is_(False)))
    row = CentreReportImport(centre_id=centre.id, key_id=key.id, period_from=period.start, period_to=period.end,
                             digest=digest, payload=envelope["payload"], signature=envelope["signature"],
                             exported_at=str(figures.get("generated_at", ""))[:40], file_name=name[:200],
                             supersedes_id=earlier.id if earlier is not None else None, imported_by=actor[:120])
    if earlier is not None:
        session.execute(update(CentreReportImport).where(CentreReportImport.id == earlier.id)
                        .values(superseded=True))
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        # The same file imported at this moment by someone else: theirs stands, this one changes nothing.
        session.rollback()
        same = session.scalar(select(CentreReportImport).where(CentreReportImport.digest == digest))
        if same is None:
            raise
        return Imported(same, created=False)
    audit(session, actor, "centre_report.import", "centre_report_import", row.id,
          before={"replaces": earlier.id} if earlier is not None else None,
          after={"centre": centre.code, "from": period.start.isoformat(), "to": period.end.isoformat(),
                 "digest": digest, "file": name[:200]})
    session.commit()
    return Imported(row, created=True, replaced=earlier)


def current_imports(session: Session, start: dt.date | None = None, end: dt.date | None = None
                    ) -> list[CentreReportImport]:
    """The current (not superseded) imported files, those whose period lies within [start, end] if given."""
    query = select(CentreReportImport).where(CentreReportImport.superseded.is_(False))
    if start is not None:
        query = query.where(CentreReportImport.period_from >= start)
    if end is not None:
        query = query.where(CentreReportImport.period_to <= end)
    return list(session.scalars(query.order_by(CentreReportImport.centre_id, CentreReportImport.period_from)))


def province_summary(session: Session, start: dt.date | None = None, end: dt.date | None = None
                     ) -> tuple[dict[str, Any], list[CentreReportImport]]:
    """The sum of the centres' current files (see current_imports), and the files summed."""
    rows = current_imports(session, start, end)
    return F.merge(r.figures for r in rows), rows


def centre_file(session: Session, centre: Centre, period: F.Period, keys_folder: Path) -> bytes:
    """The centre's figures for `period` as a signed file (its key is made on first use)."""
    figures = F.compute(session, F.centre_scope(session, centre), period)
    figures |= {"centre": centre.code, "centre_name": centre.name}
    return signing.sign(figures, centre.code, signing.centre_key(keys_folder, centre.code))
