"""The sitting package: centre → site round trip, idempotent import, refusals with the reason, the sealed paper."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from sitenode.conftest import Exchange
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.core import signing
from exam_server.core.models import User
from exam_server.delivery.models import Attempt
from exam_server.delivery.paper import form_items
from exam_server.sessions.models import ExamSession, Ticket
from exam_server.sitenode import package, sealing
from exam_server.sitenode.package import PackageError
from exam_server.sitenode.sealing import ReleaseCodeError
from item_bank.models import Form, FormItem, Item, ItemVersion

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _places(session: Session, sitting_code: str) -> set[tuple[str, str, str, int, str]]:
    tickets = session.scalars(select(Ticket).join(ExamSession, ExamSession.id == Ticket.session_id)
                              .where(ExamSession.code == sitting_code)).all()
    forms = {a.ticket_id: a.form.code for a in session.scalars(select(Attempt))}
    return {(t.number, t.candidate.id_number, t.seat.room.code, t.seat.number, forms[t.id])
            for t in tickets if t.seat is not None}


def _counts(session: Session) -> dict[str, int]:
    return {m.__name__: session.scalar(select(func.count()).select_from(m)) or 0
            for m in (ExamSession, Ticket, Attempt, Form, FormItem, ItemVersion, Item, User)}


def _first_stem(exchange: Exchange) -> str:
    return exchange.centre.scalars(
        select(ItemVersion.stem).join(FormItem, FormItem.item_version_id == ItemVersion.id).order_by(FormItem.id)
    ).first() or ""


def test_round_trip_is_sealed_until_the_release_code(exchange: Exchange, tmp_path: Path) -> None:
    pkg = exchange.export(tmp_path / "pkg.zip")
    summary = exchange.import_(pkg)
    site, centre = exchange.site, exchange.centre
    assert summary["already"] is False and summary["candidates"] == 3
    assert _places(site, exchange.sitting_code) == _places(centre, exchange.sitting_code)
    assert {(fi.position, fi.item_version.item.external_id, fi.points) for fi in site.scalars(select(FormItem))} == \
        {(fi.position, fi.item_version.item.external_id, fi.points) for fi in centre.scalars(select(FormItem))}
    proctors = site.scalars(select(User)).all()
    assert proctors and all(u.roles == ["proctor"] and u.password_hash.startswith("$argon2") for u in proctors)
    assert all(t.password_hash.startswith("$argon2") and t.password_sealed is None for t in site.scalars(select(Ticket)))

    stem = _first_stem(exchange)
    site.commit()
    assert len(stem) > 8 and stem.encode() not in exchange.site_db.read_bytes()
    assert site.scalar(select(ExamSession.paper_sealed)) is True

    # What the exam page reads before the start (its outline) is not kept: the paper is read again once unsealed.
    form_id = site.scalar(select(Form.id))
    assert {f.content.stem for f in form_items(site, form_id).values()} == {package.SEALED_STEM}

    export_code = package.release_code_for(centre, centre.get(ExamSession, exchange.seeded.exam_session_id), "GZ01")
    with pytest.raises(ReleaseCodeError, match="不符"):
        package.unseal_paper(site, exchange.sitting_code, sealing.release_code(sealing.new_secret()), "user:chief")
    with pytest.raises(ReleaseCodeError, match="校验不符"):
        package.unseal_paper(site, exchange.sitting_code, export_code[:-1] + ("0" if export_code[-1] != "0" else "1"),
                             "user:chief")
    assert site.scalar(select(ExamSession.paper_sealed)) is True

    opened = package.unseal_paper(site, exchange.sitting_code, export_code.lower(), "user:chief")
    assert opened["items"] == len(site.scalars(select(FormItem)).all())
    assert site.scalar(select(ExamSession.paper_sealed)) is False
    assert stem in site.scalars(select(ItemVersion.stem)).all()
    assert stem in {f.content.stem for f in form_items(site, form_id).values()}
    centre_keys = {(v.item.external_id, str(v.key)) for v in centre.scalars(
        select(ItemVersion).join(FormItem, FormItem.item_version_id == ItemVersion.id))}
    assert {(v.item.external_id, str(v.key)) for v in site.scalars(select(ItemVersion))} == centre_keys
    assert package.unseal_paper(site, exchange.sitting_code, export_code, "user:chief")["already"] is True


def test_the_same_package_twice_changes_nothing(exchange: Exchange, tmp_path: Path) -> None:
    pkg = exchange.export(tmp_path / "pkg.zip")
    exchange.import_(pkg)
    before = _counts(exchange.site)
    assert exchange.import_(pkg)["already"] is True
    assert _counts(exchange.site) == before


def _rewrite(src: Path, dst: Path, member: str, change: Callable[[bytes], bytes]) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            zout.writestr(info.filename, change(data) if info.filename == member else data)
    return dst


def test_refusals_name_the_reason_and_write_nothing(exchange: Exchange, tmp_path: Path) -> None:
    pkg = exchange.export(tmp_path / "pkg.zip")
    empty = _counts(exchange.site)
    one_byte = _rewrite(pkg, tmp_path / "byte.zip", "sitting.json", lambda d: d.replace(b'"seat":1', b'"seat":2', 1))
    with pytest.raises(PackageError, match=r"sitting\.json 与签名的清单不符"):
        exchange.import_(one_byte)
    forged = _rewrite(pkg, tmp_path / "sig.zip", "manifest.json", lambda d: d.replace(b'"GZ01"', b'"GZ02"'))
    with pytest.raises(PackageError, match=r"签名.*不符"):
        exchange.import_(forged)
    with pytest.raises(PackageError, match="不是所要导入的 OTHER"):
        exchange.import_(pkg, expected_sitting="OTHER")
    with pytest.raises(PackageError, match="本节点是考点 SH01"):
        exchange.import_(pkg, site_code="SH01")
    # A package signed by another centre's key: refused by fingerprint, before anything is read.
    foreign_instance = tmp_path / "foreign"
    signing.generate_node_key(foreign_instance)
    exchange.centre_instance = foreign_instance
    foreign = exchange.export(tmp_path / "foreign.zip")
    with pytest.raises(PackageError, match="不是本考点所属鉴定中心"):
        exchange.import_(foreign)
    exchange.site.rollback()
    assert _counts(exchange.site) == empty



def test_an_import_failing_halfway_leaves_nothing(exchange: Exchange, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = exchange.export(tmp_path / "pkg.zip")
    empty = _counts(exchange.site)

    opened = package.open_package

    def damaged(*args: object, **kwargs: object) -> package.OpenedPackage:
        # Content the code cannot place, past the checks: the last ticket names a form the package lacks.
        result = opened(*args, **kwargs)  # type: ignore[arg-type]
        result.clear["tickets"][-1]["form"] = "NO-SUCH-FORM"
        return result

    monkeypatch.setattr(package, "open_package", damaged)
    with pytest.raises(PackageError, match="未导入任何内容"):
        exchange.import_(pkg)
    assert _counts(exchange.site) == empty
    monkeypatch.undo()
    assert exchange.import_(pkg)["already"] is False


def test_a_later_package_with_new_items_is_sealed_until_the_code_again(exchange: Exchange, tmp_path: Path) -> None:
    from exam_server.sessions.models import SessionForm
    from item_bank.assembly import assemble_forms
    from item_bank.forms import approve_form, lock_form
    from item_bank.models import Blueprint

    centre, site = exchange.centre, exchange.site
    exam_session = centre.get(ExamSession, exchange.seeded.exam_session_id)
    exchange.import_(exchange.export(tmp_path / "first.zip"))
    code = package.release_code_for(centre, exam_session, "GZ01")
    package.unseal_paper(site, exchange.sitting_code, code, "user:chief")
    assert site.scalar(select(ExamSession.paper_sealed)) is False

    # The centre adds a second form to the sitting and sends a later package.
    blueprint = centre.get(Blueprint, exchange.seeded.blueprint_id)
    added = assemble_forms(centre, blueprint, n_forms=1, seed=99, actor="user:manager").forms[0]
    approve_form(centre, added, actor="user:reviewer")
    lock_form(centre, added, actor="user:manager")
    centre.add(SessionForm(session_id=exam_session.id, form_id=added.id))
    centre.commit()
    new_refs = {fi.item_version.item.external_id for fi in added.items} - {
        v.item.external_id for v in site.scalars(select(ItemVersion))}
    assert new_refs, "the added form must bring items the site lacks"

    centre.expire_all()  # the export reads the sitting's forms afresh, as a new CLI process would
    summary = exchange.import_(exchange.export(tmp_path / "later.zip"))
    assert summary["forms"] == 2
    assert any("再次输入解封码" in w for w in summary["warnings"])
    assert site.scalar(select(ExamSession.paper_sealed)) is True
    added_stems = {fi.item_version.stem for fi in added.items}
    new_stems = {fi.item_version.stem for fi in added.items if fi.item_version.item.external_id in new_refs}
    assert not new_stems & set(site.scalars(select(ItemVersion.stem)).all())

    assert package.unseal_paper(site, exchange.sitting_code, code, "user:chief")["already"] is False
    assert site.scalar(select(ExamSession.paper_sealed)) is False
    assert added_stems <= set(site.scalars(select(ItemVersion.stem)).all())
    assert package.SEALED_STEM not in set(site.scalars(select(ItemVersion.stem)).all())
