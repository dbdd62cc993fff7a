"""The sitting package a centre sends to a test site, its import at the site, and the release of its sealed paper.

A package is a zip: `manifest.json` (format, package id, sitting, site, the centre's public key, and the SHA-256
of every other member), `manifest.sig` (the centre's Ed25519 signature of the manifest's bytes), `sitting.json`
(the sitting, its rules, rooms and seats at the site, the candidates seated there with their ticket credentials
as password hashes, the proctors' accounts, the forms' structure and each candidate's item and option order),
`photos/<sha256>` (ID photos for check-in) and `paper.bin` (the items' stems, options, keys, item-set stimuli
and media, sealed with sealing.py). What is in the clear reveals no item: a site can import and check candidates
in, and the items are written into its database only when the release code is entered.

Decision: the site's item versions are created at import with placeholder content, so forms, attempts and
check-in work with the same ids before and after; unsealing writes the real content into those rows with
Core UPDATEs, deliberately past the ORM guard that freezes versions of locked forms (item_bank/versions.py):
the version is the same one the centre locked, only its content arrives late.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import random
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from exam_server.applications.models import ApplicantPhoto, Application
from exam_server.core.models import User
from exam_server.core.security import hash_password
from exam_server.core.signing import SigningError, fingerprint, public_key_text, sign, verify
from exam_server.delivery.models import Attempt
from exam_server.organisations.models import CENTRE, Centre, Organisation
from exam_server.sessions.credentials import TICKET_HASH_PREFIX, unseal
from exam_server.sessions.models import (
    Candidate,
    ExamSession,
    Room,
    Seat,
    SessionForm,
    SessionRoom,
    Site,
    Ticket,
)
from exam_server.sitenode import sealing
from exam_server.sitenode.keys import centre_key
from exam_server.sitenode.models import SittingExport, SittingImport, TicketPhoto
from item_bank.archives import ArchiveLimits, SafeZip
from item_bank.audit import audit
from item_bank.db import utcnow
from item_bank.forms import candidate_order
from item_bank.kernel import DomainError, transaction
from item_bank.models import (
    ASSEMBLED,
    LOCKED,
    Blueprint,
    Form,
    FormItem,
    Item,
    ItemSet,
    ItemVersion,
    MediaFile,
)
from item_bank.text import normalise_stem

FORMAT = "exam-site-package/1"
MANIFEST, SIGNATURE, SITTING, PAPER = "manifest.json", "manifest.sig", "sitting.json", "paper.bin"
MANIFEST_MAX = 1024 * 1024
SEALED_STEM = "（试卷封存中，开考时由鉴定中心提供解封码后显示）"
LIMITS = ArchiveLimits(members=50_000, member_bytes=512 * 1024 * 1024, total_bytes=2048 * 1024 * 1024, ratio=1000.0)


class PackageError(DomainError):
    """A package that cannot be made or is refused at import; the message says why."""

    default_code = "site_package"
    default_status = 400


def iso_or_none(value: dt.datetime | dt.date | None) -> str | None:
    """A time or date as packages carry it (ISO 8601), or None."""
    return value.isoformat() if value is not None else None


def aware_time(text: str | None) -> dt.datetime | None:
    """A packaged time read back, naive ones taken as UTC (how the database stores them)."""
    if not text:
        return None
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _ref(version: ItemVersion) -> str:
    return f"{version.item.external_id}#{version.version_no}"


def _json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


# ------------------------------------------------------------------------------------------------ at the centre


@dataclass
class BuiltPackage:
    data: bytes
    package_id: str
    summary: dict[str, Any]


def sitting_and_site(session: Session, session_id: int, site_id: int) -> tuple[ExamSession, Site]:
    """The sitting and the site a package job was asked for, refused when either is gone since."""
    exam_session, site = session.get(ExamSession, session_id), session.get(Site, site_id)
    if exam_session is None or site is None:
        raise PackageError("考试场次或考点不存在", status=404)
    return exam_session, site


def _export_row(session: Session, exam_session: ExamSession, site: Site, actor: str) -> SittingExport:
    row = session.scalar(select(SittingExport).where(SittingExport.session_id == exam_session.id,
                                                     SittingExport.site_code == site.code))
    if row is None:
        row = SittingExport(session_id=exam_session.id, site_code=site.code, release_secret=sealing.new_secret(),
                            created_by=actor)
        session.add(row)
        session.flush()
    return row


def _ticket_credential(ticket: Ticket, secret_key: str, profile: str) -> tuple[str, bool]:
    """The ticket's password as a hash the site can check without the centre's SECRET_KEY: an unused initial
    password is hashed with argon2 now; an argon2 hash passes as it is; a keyed hash (the ticket was used at the
    centre) cannot be checked elsewhere, so the site's proctor resets it (False)."""
    password = unseal(ticket.password_sealed, secret_key)
    if password is not None:
        return hash_password(password, profile), True
    stored = ticket.password_hash or ""
    if stored and not stored.startswith(TICKET_HASH_PREFIX):
        return stored, True
    return "", False


def _photos(session: Session, tickets: list[Ticket]) -> dict[int, tuple[str, str, bytes]]:
    by_application = {t.application_id: t.id for t in tickets if t.application_id is not None}
    out: dict[int, tuple[str, str, bytes]] = {}
    if by_application:
        rows = session.execute(
            select(Application.id, ApplicantPhoto.sha256, ApplicantPhoto.mime, ApplicantPhoto.data)
            .join(ApplicantPhoto, ApplicantPhoto.id == Application.photo_id)
            .where(Application.id.in_(by_application))
        )
        for application_id, sha, mime, data in rows:
            out[by_application[application_id]] = (sha, mime, data)
    return out


def build_package(
    session: Session,
    exam_session: ExamSession,
    site: Site,
    private_key: Ed25519PrivateKey,
    actor: str,
    *,
    secret_key: str,
    hash_profile: str = "default",
) -> BuiltPackage:
    """The signed, sealed package of `exam_session` for `site`. Records the sitting's paper key for the site (the
    same one for every package of the pair) and commits that."""
    forms = [sf.form for sf in exam_session.forms]
    if not forms:
        raise PackageError(f"考试场次 {exam_session.code} 还没有指定试卷，不能导出")
    unlocked = [f.code for f in forms if f.status != LOCKED]
    if unlocked:
        raise PackageError(f"试卷 {'、'.join(unlocked)} 尚未锁定，不能导出")
    rooms = [sr.room for sr in exam_session.rooms if sr.room.site_id == site.id]
    if not rooms:
        raise PackageError(f"考试场次 {exam_session.code} 没有使用考点 {site.code} 的考场")
    room_ids = {r.id for r in rooms}
    all_active = list(session.scalars(
        select(Ticket).where(Ticket.session_id == exam_session.id, Ticket.status == "active")
        .options(joinedload(Ticket.candidate), joinedload(Ticket.seat)).order_by(Ticket.number)
    ).unique())
    tickets = [t for t in all_active if t.seat is not None and t.seat.room_id in room_ids]
    if not tickets:
        raise PackageError(f"考试场次 {exam_session.code} 在考点 {site.code} 没有已排座的考生")
    export = _export_row(session, exam_session, site, actor)

    versions: dict[int, ItemVersion] = {}
    form_rows = []
    for form in forms:
        items = []
        for fi in sorted(form.items, key=lambda x: x.position):
            versions[fi.item_version_id] = fi.item_version
            items.append({"position": fi.position, "section": fi.section, "points": fi.points,
                          "scoring_rule": fi.scoring_rule, "ref": _ref(fi.item_version)})
        lock = (form.assembly_report or {}).get("lock") or {}
        # The lock's snapshot holds the keys: only its order rules travel in the clear.
        form_rows.append({"code": form.code, "blueprint": form.blueprint.name, "assembly_group": form.assembly_group,
                          "locked_at": iso_or_none(form.locked_at), "order_rules": lock.get("order_rules") or [],
                          "items": items})
    sets = {v.item_set.external_id: v.item_set for v in versions.values() if v.item_set is not None}

    # Each candidate's screen is fixed here, as prepare_attempts would: an attempt the centre already prepared
    # keeps its seed and orders, the others get theirs now (forms alternate by ticket number, as there).
    attempts = {a.ticket_id: a for a in session.scalars(select(Attempt).where(Attempt.session_id == exam_session.id))}
    by_form_id = {f.id: f for f in forms}
    ref_of = {vid: _ref(v) for vid, v in versions.items()}
    rng = random.SystemRandom()
    photos = _photos(session, tickets)
    needs_reset = 0
    ticket_rows = []
    index_of = {t.id: i for i, t in enumerate(all_active)}
    for ticket in tickets:
        attempt = attempts.get(ticket.id)
        if attempt is not None:
            form = by_form_id.get(attempt.form_id) or attempt.form
            seed, order, options = attempt.seed, list(attempt.item_order), dict(attempt.option_orders)
        else:
            form = (by_form_id.get(ticket.form_id) if ticket.form_id is not None else None) \
                or forms[index_of[ticket.id] % len(forms)]
            seed = rng.randrange(1, 2**31 - 1)
            order_ids, option_ids = candidate_order(form, seed)
            order, options = list(order_ids), {str(k): v for k, v in option_ids.items()}
        credential, usable = _ticket_credential(ticket, secret_key, hash_profile)
        needs_reset += 0 if usable else 1
        photo = photos.get(ticket.id)
        assert ticket.seat is not None
        seat_room = next(r for r in rooms if r.id == ticket.seat.room_id)
        c = ticket.candidate
        ticket_rows.append({
            "number": ticket.number, "room": seat_room.code, "seat": ticket.seat.number,
            "candidate": {"id_number": c.id_number, "name": c.name, "guard_cert_no": c.guard_cert_no,
                          "guard_cert_date": iso_or_none(c.guard_cert_date), "employer": c.employer, "city": c.city},
            "password_hash": credential, "form": form.code, "extra_time_s": ticket.extra_time_s,
            "separate_room": ticket.separate_room, "accommodation_reason": ticket.accommodation_reason,
            "issued_at": iso_or_none(ticket.issued_at), "photo": {"sha256": photo[0], "mime": photo[1]} if photo else None,
            "attempt": {"seed": seed, "item_order": [ref_of[int(i)] for i in order],
                        "option_orders": {ref_of[int(k)]: v for k, v in options.items()}},
        })
    proctors = session.scalars(
        select(User).where(User.room_id.in_(room_ids), User.active.is_(True)).order_by(User.username)
    ).all()
    proctor_rows = [{"username": u.username, "display_name": u.display_name, "password_hash": u.password_hash,
                     "roles": [r for r in u.roles if r == "proctor"] or ["proctor"],
                     "room": next(r.code for r in rooms if r.id == u.room_id)}
                    for u in proctors if "proctor" in u.roles]
    centre = session.get(Organisation, exam_session.centre_id) if exam_session.centre_id else None
    bp = exam_session.blueprint
    blueprints = {f.blueprint.name: f.blueprint for f in forms} | {bp.name: bp}
    clear = {
        "centre": {"code": centre.code, "name": centre.name} if centre is not None else None,
        "site": {"code": site.code, "name": site.name, "city": site.city, "address": site.address,
                 "filing_number": site.filing_number},
        "rooms": [{"code": r.code, "name": r.name, "seats": [s.number for s in r.seats]} for r in rooms],
        "blueprints": [{"name": b.name, "level": b.level, "part": b.part, "duration_s": b.duration_s,
                        "pass_mark": b.pass_mark, "spec": b.spec} for b in blueprints.values()],
        "sitting": {"code": exam_session.code, "name": exam_session.name, "level": exam_session.level,
                    "part": exam_session.part, "blueprint": bp.name, "starts_at": iso_or_none(exam_session.starts_at),
                    "duration_s": exam_session.duration_s, "timing": exam_session.timing,
                    "late_entry_min": exam_session.late_entry_min, "min_submit_min": exam_session.min_submit_min,
                    "password_slip": exam_session.password_slip},
        "forms": form_rows,
        "item_sets": sorted(sets),
        "item_versions": [{"ref": _ref(v), "external_id": v.item.external_id, "version_no": v.version_no,
                           "type": v.type, "points": v.points, "levels": v.levels, "part": v.part,
                           "item_set": v.item_set.external_id if v.item_set is not None else None,
                           "set_position": v.set_position, "cognitive_level": v.cognitive_level}
                          for v in versions.values()],
        "tickets": ticket_rows,
        "proctors": proctor_rows,
    }
    media_hashes = {m.get("sha256") for v in versions.values() for m in (v.media or []) if isinstance(m, dict)}
    media_hashes |= {m.get("sha256") for s in sets.values() for m in (s.media or []) if isinstance(m, dict)}
    media = session.scalars(select(MediaFile).where(MediaFile.sha256.in_({h for h in media_hashes if h}))).all()
    paper = {
        "item_versions": {_ref(v): {"stem": v.stem, "content": v.content, "key": v.key, "media": v.media}
                          for v in versions.values()},
        "item_sets": {code: {"title": s.title, "stimulus": s.stimulus, "media": s.media} for code, s in sets.items()},
        "media": {m.sha256: {"name": m.name, "mime": m.mime, "data": base64.b64encode(m.data).decode("ascii")}
                  for m in media},
    }
    members: dict[str, bytes] = {
        SITTING: _json(clear),
        PAPER: sealing.seal_paper(_json(paper), export.release_secret, exam_session.code, site.code),
    }
    for sha, _mime, data in photos.values():
        members[f"photos/{sha}"] = data
    package_id = uuid.uuid4().hex
    now = utcnow()
    manifest = {
        "format": FORMAT, "package_id": package_id, "created_at": now.isoformat(), "sitting": exam_session.code,
        "site": site.code, "centre_key": public_key_text(private_key.public_key()),
        "window": {"starts_at": iso_or_none(exam_session.starts_at), "ends_at": iso_or_none(exam_session.ends_at)},
        "members": {name: hashlib.sha256(data).hexdigest() for name, data in members.items()},
    }
    manifest_bytes = _json(manifest)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST, manifest_bytes)
        zf.writestr(SIGNATURE, sign(private_key, manifest_bytes))
        for name, data in members.items():
            zf.writestr(name, data, compress_type=zipfile.ZIP_STORED if name == PAPER else zipfile.ZIP_DEFLATED)
    summary = {"sitting": exam_session.code, "site": site.code, "package_id": package_id, "forms": len(forms),
               "items": len(versions), "candidates": len(tickets), "rooms": len(rooms), "proctors": len(proctor_rows),
               "photos": len(photos), "needs_password_reset": needs_reset}
    export.last_package_id = package_id
    export.last_exported_at = now
    audit(session, actor, "export_site_package", "exam_session", exam_session.id, after=summary)
    session.commit()
    return BuiltPackage(buffer.getvalue(), package_id, summary)


def release_code_for(session: Session, exam_session: ExamSession, site_code: str) -> str:
    """The code that unseals the paper of `exam_session` at the site; refused before any package was made."""
    export = session.scalar(select(SittingExport).where(SittingExport.session_id == exam_session.id,
                                                        SittingExport.site_code == site_code))
    if export is None:
        raise PackageError(f"考试场次 {exam_session.code} 尚未为考点 {site_code} 导出过考试数据包，没有解封码",
                           status=404)
    return sealing.release_code(export.release_secret)


# ------------------------------------------------------------------------------------------------ at the site


@dataclass
class OpenedPackage:
    manifest: dict[str, Any]
    clear: dict[str, Any]
    paper: bytes
    photos: dict[str, bytes]
    digest: str


def open_package(session: Session, path: Path | str, *, name: str | None = None) -> OpenedPackage:
    """Read and check a package against the centre key registered here: signature, key, every member's hash.
    Refused with the reason in Chinese; nothing is written."""
    label = name or Path(path).name
    with SafeZip(path, name=label, limits=LIMITS) as zf:
        names = set(zf.namelist())
        for needed in (MANIFEST, SIGNATURE, SITTING, PAPER):
            if needed not in names:
                raise PackageError(f"{label} 不是考试数据包：缺少 {needed}", code="not_a_package")
        # Nothing is trusted before the signature: the two members it rests on are small, or refused unread.
        if zf.file_size(MANIFEST) > MANIFEST_MAX or zf.file_size(SIGNATURE) > MANIFEST_MAX:
            raise PackageError(f"{label} 的清单或签名过大，不是考试数据包", code="not_a_package")
        manifest_bytes, signature = zf.read(MANIFEST), zf.read(SIGNATURE)
        try:
            manifest = json.loads(manifest_bytes)
        except ValueError as exc:
            raise PackageError(f"{label} 的清单 {MANIFEST} 无法读取", code="bad_manifest") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise PackageError(f"{label} 的格式不是 {FORMAT}", code="bad_manifest")
        trusted = centre_key(session)
        signer = str(manifest.get("centre_key") or "")
        if signer != trusted.public_key:
            shown = fingerprint(signer) if signer else "（无）"
            raise PackageError(f"数据包由指纹为 {shown} 的密钥签名，而本考点登记的鉴定中心公钥指纹为 {trusted.fingerprint}："
                               "不是本考点所属鉴定中心制作的数据包，拒绝导入", code="wrong_centre_key")
        try:
            verify(trusted.public_key, manifest_bytes, signature, what="考试数据包清单")
        except SigningError as exc:
            raise PackageError(exc.message, code="bad_signature") from exc
        contents: dict[str, bytes] = {}
        listed = manifest.get("members") or {}
        extra = sorted(names - set(listed) - {MANIFEST, SIGNATURE})
        if extra:
            raise PackageError(f"数据包含有清单之外的文件：{'、'.join(extra[:5])}", code="tampered")
        for member, expected in listed.items():
            if member not in names:
                raise PackageError(f"数据包缺少清单中的文件 {member}", code="tampered")
            data = zf.read(member)
            if hashlib.sha256(data).hexdigest() != expected:
                raise PackageError(f"数据包中的 {member} 与签名的清单不符（内容被改动过），拒绝导入", code="tampered")
            contents[member] = data
    try:
        clear = json.loads(contents[SITTING])
    except ValueError as exc:
        raise PackageError(f"数据包中的 {SITTING} 无法读取", code="bad_manifest") from exc
    photos = {m.split("/", 1)[1]: data for m, data in contents.items() if m.startswith("photos/")}
    # The signed manifest names every member's hash: its own hash identifies the content, however re-zipped.
    return OpenedPackage(manifest, clear, contents[PAPER], photos, hashlib.sha256(manifest_bytes).hexdigest())


def node_site_code(instance_path: str | Path, configured: str | None = None) -> str | None:
    """This site node's code: SITE_CODE from the configuration, else the one `examctl site keygen --site` wrote."""
    if configured:
        return configured
    path = Path(instance_path) / "site_code"
    return path.read_text(encoding="utf-8").strip() if path.exists() else None


CLOCK_SLACK = dt.timedelta(minutes=5)


def clock_warnings(manifest: dict[str, Any], now: dt.datetime) -> list[str]:
    """What the site's clock says against the package: earlier than the package was made (the clock is behind),
    or past the sitting's end. Flagged, not refused: the proctors fix the clock, the centre sees it in the log."""
    out = []
    made = aware_time(manifest.get("created_at"))
    window = manifest.get("window") or {}
    ends = aware_time(window.get("ends_at"))
    if made is not None and now < made - CLOCK_SLACK:
        out.append(f"本机时钟比数据包的制作时间早 {int((made - now).total_seconds() // 60)} 分钟：请先校准本机时钟")
    if ends is not None and now > ends:
        out.append(f"按本机时钟，考试场次已于 {ends:%Y-%m-%d %H:%M} (UTC) 结束：请核对本机时钟或数据包")
    return out


def _get_or_add(session: Session, model: type, where: dict[str, Any], values: dict[str, Any]) -> tuple[Any, bool]:
    row = session.scalar(select(model).filter_by(**where))
    if row is not None:
        return row, False
    row = model(**where, **values)
    session.add(row)
    session.flush()
    return row, True


def import_package(
    session: Session,
    path: Path | str,
    actor: str,
    *,
    site_code: str | None,
    expected_sitting: str | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """Import a checked package into this site's database in one transaction and return what it did.

    The same package twice changes nothing (`already`: True). Refused, with the reason, when the package is not
    signed by the registered centre key, was changed, is for another site, or for another sitting than asked."""
    package = open_package(session, path, name=name)
    manifest, clear = package.manifest, package.clear
    sitting_code, package_site = str(manifest.get("sitting")), str(manifest.get("site"))
    if clear.get("sitting", {}).get("code") != sitting_code or clear.get("site", {}).get("code") != package_site:
        raise PackageError("数据包的清单与内容所述的场次或考点不一致", code="tampered")
    if not site_code:
        raise PackageError("本节点尚未设定考点代码（SITE_CODE，或 examctl site keygen --site 代码）", code="no_site_code")
    if package_site != site_code:
        raise PackageError(f"数据包是为考点 {package_site} 制作的，本节点是考点 {site_code}，拒绝导入", code="wrong_site")
    if expected_sitting and expected_sitting != sitting_code:
        raise PackageError(f"数据包属于考试场次 {sitting_code}，不是所要导入的 {expected_sitting}，拒绝导入",
                           code="wrong_sitting")
    previous = session.scalar(select(SittingImport).where(SittingImport.package_id == manifest["package_id"]))
    if previous is not None:
        if previous.digest != package.digest:
            raise PackageError("同一编号的数据包已导入过，但内容不同，拒绝导入", code="tampered")
        return {**previous.summary, "already": True}
    existing = session.scalar(select(ExamSession).where(ExamSession.code == sitting_code))
    if existing is not None and session.scalar(
        select(SittingImport.id).where(SittingImport.session_id == existing.id)
    ) is None:
        raise PackageError(f"本地已有考试场次 {sitting_code}，且不是由考试数据包导入的，拒绝覆盖", code="wrong_sitting")
    warnings = clock_warnings(manifest, utcnow())
    with transaction(session):
        try:
            summary = _apply(session, clear, package)
        except (KeyError, TypeError, ValueError, IntegrityError) as exc:
            # Signed by the centre yet not what this version reads (another release's format): nothing is kept.
            raise PackageError(f"数据包内容不完整或格式不符（{type(exc).__name__}: {exc}），未导入任何内容",
                               code="bad_content") from exc
        summary["warnings"] = warnings
        exam_session = session.scalar(select(ExamSession).where(ExamSession.code == sitting_code))
        assert exam_session is not None
        unsealed_before = session.scalar(select(SittingImport.id).where(
            SittingImport.session_id == exam_session.id, SittingImport.unsealed_at.is_not(None)))
        # A later package may bring items the earlier one lacked (a form added at the centre): those stay
        # placeholders until the release code (the same for every package of the sitting) is entered again.
        if unsealed_before is not None and _has_placeholders(session, exam_session.id):
            unsealed_before = None
            summary["warnings"].append("数据包带来了此前没有的试题：须再次输入解封码（与之前相同）后，"
                                       "尚未开始的考生才能开始考试；已在作答的考生不受影响")
        if unsealed_before is None:
            exam_session.paper_sealed = True
        summary.update({"sitting": sitting_code, "site": site_code, "package_id": manifest["package_id"]})
        row = SittingImport(package_id=manifest["package_id"], digest=package.digest, session_id=exam_session.id,
                            site_code=site_code, centre_fingerprint=fingerprint(manifest["centre_key"]),
                            summary=summary, sealed_paper=None if unsealed_before else package.paper,
                            imported_by=actor, unsealed_at=utcnow() if unsealed_before else None,
                            unsealed_by=actor if unsealed_before else None)
        session.add(row)
        session.flush()
        audit(session, actor, "import_site_package", "exam_session", exam_session.id, after=summary)
    return {**summary, "already": False}


def _has_placeholders(session: Session, session_id: int) -> bool:
    """Whether a form of the sitting still holds an item version the paper has not filled in."""
    return bool(session.scalar(select(exists().where(
        SessionForm.session_id == session_id, FormItem.form_id == SessionForm.form_id,
        ItemVersion.id == FormItem.item_version_id, ItemVersion.stem == SEALED_STEM))))


def _apply(session: Session, clear: dict[str, Any], package: OpenedPackage) -> dict[str, Any]:
    centre_id = None
    if clear.get("centre"):
        centre = session.scalar(select(Organisation).where(Organisation.code == clear["centre"]["code"]))
        if centre is None:
            centre = Centre(code=clear["centre"]["code"], name=clear["centre"]["name"], kind=CENTRE)
            session.add(centre)
            session.flush()
        centre_id = centre.id
    s = clear["site"]
    site, _ = _get_or_add(session, Site, {"code": s["code"]},
                          {"name": s["name"], "city": s["city"], "address": s["address"],
                           "filing_number": s["filing_number"], "centre_id": centre_id})
    rooms: dict[str, Room] = {}
    seats: dict[tuple[str, int], Seat] = {}
    for r in clear["rooms"]:
        room, _ = _get_or_add(session, Room, {"site_id": site.id, "code": r["code"]}, {"name": r["name"]})
        rooms[r["code"]] = room
        have = {seat.number: seat for seat in session.scalars(select(Seat).where(Seat.room_id == room.id))}
        for number in r["seats"]:
            if number not in have:
                have[number] = Seat(room_id=room.id, number=number)
                session.add(have[number])
        session.flush()
        seats.update({(r["code"], n): seat for n, seat in have.items()})
    blueprints: dict[str, Blueprint] = {}
    for b in clear["blueprints"]:
        blueprints[b["name"]], _ = _get_or_add(session, Blueprint, {"name": b["name"]},
                                               {k: b[k] for k in ("level", "part", "duration_s", "pass_mark", "spec")})
    sets: dict[str, ItemSet] = {}
    for code in clear["item_sets"]:
        sets[code], _ = _get_or_add(session, ItemSet, {"external_id": code}, {"title": "", "stimulus": ""})
    versions: dict[str, ItemVersion] = {}
    for v in clear["item_versions"]:
        item, _ = _get_or_add(session, Item, {"external_id": v["external_id"]}, {})
        version = session.scalar(select(ItemVersion).where(ItemVersion.item_id == item.id,
                                                           ItemVersion.version_no == v["version_no"]))
        if version is None:
            version = ItemVersion(item_id=item.id, version_no=v["version_no"], status="approved", type=v["type"],
                                  stem=SEALED_STEM, content={}, key=None, points=v["points"], levels=v["levels"],
                                  part=v["part"], item_set_id=sets[v["item_set"]].id if v["item_set"] else None,
                                  set_position=v["set_position"], cognitive_level=v["cognitive_level"], media=[],
                                  source="site-package")
            session.add(version)
            session.flush()
            if item.current_version_id is None:
                item.current_version_id = version.id
        versions[v["ref"]] = version
    forms: dict[str, Form] = {}
    for f in clear["forms"]:
        form = session.scalar(select(Form).where(Form.code == f["code"]))
        if form is None:
            # Built open, then locked: the lock guard refuses items added to a form that is locked already.
            report = {"lock": {"order_rules": f["order_rules"], "at": f["locked_at"], "by": "centre"}}
            form = Form(code=f["code"], blueprint_id=blueprints[f["blueprint"]].id, status=ASSEMBLED,
                        assembly_group=f["assembly_group"], assembly_report=report)
            session.add(form)
            session.flush()
            for it in f["items"]:
                session.add(FormItem(form_id=form.id, item_version_id=versions[it["ref"]].id,
                                     position=it["position"], section=it["section"], points=it["points"],
                                     scoring_rule=it["scoring_rule"]))
            session.flush()
            form.status = LOCKED
            form.locked_at = aware_time(f["locked_at"]) or utcnow()
            session.flush()
        forms[f["code"]] = form
    st = clear["sitting"]
    fields = {"name": st["name"], "level": st["level"], "part": st["part"],
              "blueprint_id": blueprints[st["blueprint"]].id, "starts_at": aware_time(st["starts_at"]),
              "duration_s": st["duration_s"], "timing": st["timing"], "late_entry_min": st["late_entry_min"],
              "min_submit_min": st["min_submit_min"], "password_slip": st["password_slip"], "centre_id": centre_id}
    exam_session, created = _get_or_add(session, ExamSession, {"code": st["code"]}, fields)
    if not created:
        for key, value in fields.items():
            setattr(exam_session, key, value)
    for form in forms.values():
        _get_or_add(session, SessionForm, {"session_id": exam_session.id, "form_id": form.id}, {})
    for room in rooms.values():
        _get_or_add(session, SessionRoom, {"session_id": exam_session.id, "room_id": room.id}, {})
    # Rows looked up once for the whole list: a sitting of 500 imports in one pass, not 2,000 queries.
    numbers = [t["number"] for t in clear["tickets"]]
    id_numbers = [t["candidate"]["id_number"] for t in clear["tickets"]]
    candidates = {c.id_number: c for c in session.scalars(select(Candidate).where(Candidate.id_number.in_(id_numbers)))}
    for t in clear["tickets"]:
        c = t["candidate"]
        if c["id_number"] not in candidates:
            candidates[c["id_number"]] = Candidate(
                id_number=c["id_number"], name=c["name"], guard_cert_no=c["guard_cert_no"],
                guard_cert_date=dt.date.fromisoformat(c["guard_cert_date"]), employer=c["employer"], city=c["city"])
            session.add(candidates[c["id_number"]])
    session.flush()
    tickets = {t.number: t for t in session.scalars(select(Ticket).where(Ticket.number.in_(numbers)))}
    new_tickets = new_attempts = 0
    for t in clear["tickets"]:
        seat, form = seats[(t["room"], t["seat"])], forms[t["form"]]
        ticket = tickets.get(t["number"])
        if ticket is None:
            ticket = tickets[t["number"]] = Ticket(
                number=t["number"], session_id=exam_session.id, candidate_id=candidates[t["candidate"]["id_number"]].id,
                seat_id=seat.id, password_hash=t["password_hash"], form_id=form.id, extra_time_s=t["extra_time_s"],
                separate_room=t["separate_room"], accommodation_reason=t["accommodation_reason"],
                issued_at=aware_time(t["issued_at"]))
            session.add(ticket)
            new_tickets += 1
        elif ticket.first_login_at is None:
            # A later package may move a candidate; a ticket already used here keeps its local password.
            ticket.seat_id, ticket.password_hash = seat.id, t["password_hash"]
    session.flush()
    ticket_ids = [tickets[n].id for n in numbers]
    with_photo = set(session.scalars(select(TicketPhoto.ticket_id).where(TicketPhoto.ticket_id.in_(ticket_ids))))
    with_attempt = set(session.scalars(select(Attempt.ticket_id).where(Attempt.ticket_id.in_(ticket_ids))))
    for t in clear["tickets"]:
        ticket = tickets[t["number"]]
        if t["photo"] and ticket.id not in with_photo and t["photo"]["sha256"] in package.photos:
            session.add(TicketPhoto(ticket_id=ticket.id, sha256=t["photo"]["sha256"], mime=t["photo"]["mime"],
                                    data=package.photos[t["photo"]["sha256"]]))
        if ticket.id not in with_attempt:
            plan = t["attempt"]
            session.add(Attempt(
                ticket_id=ticket.id, session_id=exam_session.id, candidate_id=ticket.candidate_id,
                form_id=forms[t["form"]].id, seed=plan["seed"],
                item_order=[versions[ref].id for ref in plan["item_order"]],
                option_orders={str(versions[ref].id): letters for ref, letters in plan["option_orders"].items()},
                remaining_s=float(st["duration_s"]),
            ))
            new_attempts += 1
    new_proctors = 0
    for p in clear["proctors"]:
        user = session.scalar(select(User).where(User.username == p["username"]))
        if user is None:
            session.add(User(username=p["username"], display_name=p["display_name"], password_hash=p["password_hash"],
                             roles=p["roles"], room_id=rooms[p["room"]].id))
            new_proctors += 1
    session.flush()
    return {"forms": len(forms), "items": len(versions), "candidates": len(clear["tickets"]),
            "new_tickets": new_tickets, "new_attempts": new_attempts, "rooms": len(rooms),
            "proctors": len(clear["proctors"]), "new_proctors": new_proctors}


def unseal_paper(session: Session, sitting_code: str, code: str, actor: str) -> dict[str, Any]:
    """Open the sealed paper of `sitting_code` with the release code and write its items into this database, in
    one transaction; a wrong code is refused and nothing changes. Unsealing again is harmless."""
    exam_session = session.scalar(select(ExamSession).where(ExamSession.code == sitting_code))
    if exam_session is None:
        raise PackageError(f"本考点没有考试场次 {sitting_code}", code="no_such_sitting", status=404)
    rows = session.scalars(select(SittingImport).where(SittingImport.session_id == exam_session.id)
                           .order_by(SittingImport.id.desc())).all()
    if not rows:
        raise PackageError(f"考试场次 {sitting_code} 不是由考试数据包导入的，无需解封", code="not_imported")
    sealed = [r for r in rows if r.sealed_paper is not None]
    if not sealed or not exam_session.paper_sealed:
        return {"sitting": sitting_code, "already": True, "items": 0}
    secret = sealing.parse_release_code(code)
    row = sealed[0]
    paper = json.loads(sealing.open_paper(row.sealed_paper or b"", secret, sitting_code, row.site_code))
    with transaction(session):
        for sha, m in paper["media"].items():
            if session.scalar(select(MediaFile.id).where(MediaFile.sha256 == sha)) is None:
                data = base64.b64decode(m["data"])
                session.add(MediaFile(sha256=sha, name=m["name"], mime=m["mime"], size=len(data), data=data))
        for external_id, s in paper["item_sets"].items():
            session.execute(update(ItemSet).where(ItemSet.external_id == external_id)
                            .values(title=s["title"], stimulus=s["stimulus"], media=s["media"]))
        items = {i.external_id: i.id for i in session.scalars(
            select(Item).where(Item.external_id.in_({ref.rsplit("#", 1)[0] for ref in paper["item_versions"]})))}
        for ref, v in paper["item_versions"].items():
            external_id, version_no = ref.rsplit("#", 1)
            # Core UPDATE past the lock guard on purpose: see the module docstring.
            session.execute(
                update(ItemVersion)
                .where(ItemVersion.item_id == items[external_id], ItemVersion.version_no == int(version_no))
                .values(stem=v["stem"], content=v["content"], key=v["key"], media=v["media"],
                        stem_norm=normalise_stem(v["stem"]))
                .execution_options(synchronize_session=False)
            )
        now = utcnow()
        for r in sealed:
            r.sealed_paper = None
            r.unsealed_at, r.unsealed_by = now, actor
        exam_session.paper_sealed = False
        audit(session, actor, "unseal_site_paper", "exam_session", exam_session.id,
              after={"items": len(paper["item_versions"]), "media": len(paper["media"])})
    session.expire_all()
    return {"sitting": sitting_code, "already": False, "items": len(paper["item_versions"])}
