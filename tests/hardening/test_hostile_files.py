"""A corpus of hostile files, each fed to the real import (item_bank.importing.import_items, which the web's
import job and `examctl import-items` both call): each is refused with a Chinese reason naming the file
(and the member or cell), nothing is stored, and the server still answers afterwards.
"""

from __future__ import annotations

import html
import io
import re
import stat
import struct
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.core.security import hash_password
from exam_server.jobs import Job
from item_bank.archives import ArchiveError, ArchiveLimits, SafeZip
from item_bank.exchange.records import BankImportError
from item_bank.importing import import_items, read_file
from item_bank.models import Item, ItemSet, ItemVersion, MediaFile

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5f5a3fa0000000049454e44ae426082"
)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>fetch("/bank/review")</script></svg>'
ZEROS_MB = 50  # 50 MB of zeros deflate to ~50 KB: a zip bomb small enough to build in a test

ITEM = """<?xml version="1.0" encoding="UTF-8"?>{doctype}
<assessmentItem xmlns="http://www.imsglobal.org/xsd/imsqti_v2p1" identifier="{ident}" title="{ident}"
  adaptive="false" timeDependent="false">
 <responseDeclaration identifier="RESPONSE" cardinality="single" baseType="identifier">
  <correctResponse><value>A</value></correctResponse></responseDeclaration>
 <itemBody><p>{stem}{img}</p>
  <choiceInteraction responseIdentifier="RESPONSE" maxChoices="1">
   <simpleChoice identifier="A">报告值班领导</simpleChoice><simpleChoice identifier="B">自行离开</simpleChoice>
  </choiceInteraction></itemBody>
</assessmentItem>"""
MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>{doctype}
<manifest xmlns="http://www.imsglobal.org/xsd/imscp_v1p1" identifier="M"><resources>
 <resource identifier="R1" type="imsqti_item_xmlv2p1" href="items/{ident}.xml"><file href="items/{ident}.xml"/>
 </resource></resources></manifest>"""
LAUGHS = (
    '\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'
        for i in range(1, 10)
    )
    + "]>"
)
XXE = '\n<!DOCTYPE item [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'


def _item(
    ident: str, stem: str = "巡逻中发现可疑人员，保安员应当（ ）。", img: str = "", doctype: str = ""
) -> str:
    return ITEM.format(ident=ident, stem=stem, img=img, doctype=doctype)


def _package(
    path: Path, *, ident: str = "H1", item: str | None = None, manifest_doctype: str = "",
    extra: dict[str | zipfile.ZipInfo, bytes] | None = None,
) -> Path:  # fmt: skip
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("imsmanifest.xml", MANIFEST.format(ident=ident, doctype=manifest_doctype))
        zf.writestr(f"items/{ident}.xml", item if item is not None else _item(ident))
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


def _zeros(zf: zipfile.ZipFile, member: str, megabytes: int = ZEROS_MB) -> None:
    block = bytes(1024 * 1024)
    with zf.open(member, "w", force_zip64=False) as out:
        for _ in range(megabytes):
            out.write(block)


def _bomb(path: Path, member: str, base: Path | None = None) -> Path:
    """`base` (a zip) with a member of 50 MB of zeros added; its header tells the truth."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        if base is not None:
            with zipfile.ZipFile(base) as src:
                for info in src.infolist():
                    zf.writestr(info, src.read(info))
        _zeros(zf, member)
    return path


def _lie(path: Path, member: str, declared: int) -> Path:
    """Rewrite `member`'s uncompressed size in both headers: the zip now lies about what it expands to."""
    data = bytearray(path.read_bytes())
    at = 0
    while (at := data.find(b"PK\x01\x02", at)) >= 0:
        name_len = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + name_len].decode() == member:
            struct.pack_into("<I", data, at + 24, declared)
            local = struct.unpack_from("<I", data, at + 42)[0]
            struct.pack_into("<I", data, local + 22, declared)
            path.write_bytes(bytes(data))
            return path
        at += 4
    raise AssertionError(f"{member} not in {path}")


def _workbook(path: Path, cells: list[list[object]] | None = None) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = "试题"
    ws.append(["试题编号", "题型", "题干", "选项A", "选项B", "答案", "知识点"])
    for row in cells or [["X-1", "单选", "值班时发现火情，首先应当（ ）。", "报警", "离开", "A", "综合"]]:
        ws.append(row)
    wb.save(path)
    return path


def _counts(session: Session) -> tuple[int, ...]:
    return tuple(
        session.scalar(select(func.count()).select_from(table)) or 0
        for table in (Item, ItemVersion, MediaFile, ItemSet)
    )


@pytest.fixture
def stocked(session: Session, tmp_path: Path) -> tuple[int, ...]:
    """A bank with one item already in it, so that 'nothing stored' compares non-empty tables."""
    import_items(session, _package(tmp_path / "good.zip", ident="GOOD1"), actor="cli:test")
    import_items(session, _workbook(tmp_path / "good.xlsx"), actor="cli:test")  # the limits let real files in
    counts = _counts(session)
    assert counts[0] == 2
    return counts


def _refused(session: Session, path: Path, before: tuple[int, ...], **kwargs: object) -> str:
    with pytest.raises(BankImportError) as refused:
        import_items(session, path, actor="cli:test", name=path.name, **kwargs)  # type: ignore[arg-type]
    assert _counts(session) == before, "a refused file stored something"
    reasons = " | ".join(p.reason + " @" + p.column for p in refused.value.problems)
    assert path.name in refused.value.message
    return reasons


# ----- each class of hostile file -----

Case = Callable[[Path], tuple[Path, dict[str, object], list[str]]]


def _honest_qti_bomb(tmp: Path) -> tuple[Path, dict[str, object], list[str]]:
    good = _package(tmp / "base.zip")
    return _bomb(tmp / "bomb.zip", "media/huge.png", good), {}, ["media/huge.png", "压缩比"]


def _lying_qti_bomb(tmp: Path) -> tuple[Path, dict[str, object], list[str]]:
    good = _package(tmp / "base.zip")
    path = _lie(_bomb(tmp / "liar.zip", "items/H2.xml", good), "items/H2.xml", 100_000)
    return path, {}, ["items/H2.xml", "不符"]


def _declares_4gb(tmp: Path) -> tuple[Path, dict[str, object], list[str]]:
    good = _package(tmp / "base.zip")
    path = _lie(_bomb(tmp / "huge.zip", "media/huge.png", good), "media/huge.png", 4_000_000_000)
    return path, {}, ["media/huge.png", "超过单个成员上限"]


def _honest_xlsx_bomb(tmp: Path) -> tuple[Path, dict[str, object], list[str]]:
    base = _workbook(tmp / "base.xlsx")
    return _bomb(tmp / "bomb.xlsx", "xl/media/image1.png", base), {}, ["xl/media/image1.png", "压缩比"]


def _lying_xlsx_bomb(tmp: Path) -> tuple[Path, dict[str, object], list[str]]:
    base = _workbook(tmp / "base.xlsx")
    path = _lie(_bomb(tmp / "liar.xlsx", "xl/media/image1.png", base), "xl/media/image1.png", 65_536)
    return path, {}, ["xl/media/image1.png", "不符"]


def _too_many_members(tmp: Path) -> tuple[Path, dict[str, object], list[str]]:
    extra: dict[str | zipfile.ZipInfo, bytes] = {f"media/{i}.txt": b"x" for i in range(30)}
    path = _package(tmp / "many.zip", extra=extra)
    return path, {"archive_limits": ArchiveLimits(members=20)}, ["32 个成员", "上限 20"]


def _path_traversal(tmp: Path) -> tuple[Path, dict[str, object], list[str]]:
    path = _package(tmp / "escape.zip", extra={"../../instance/evil.xml": b"<x/>"})
    return path, {}, ["../../instance/evil.xml", ".."]


def _absolute_member(tmp: Path) -> tuple[Path, dict[str, object], list[str]]:
    info = zipfile.ZipInfo("items/x.xml")
    info.filename = "/etc/cron.d/evil"  # ZipInfo strips a leading slash; a hostile tool does not
    path = _package(tmp / "absolute.zip", extra={info: b"* * * * * root true"})
    return path, {}, ["/etc/cron.d/evil", "绝对路径"]


def _symlink_member(tmp: Path) -> tuple[Path, dict[str, object], list[str]]:
    info = zipfile.ZipInfo("media/link.png")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    path = _package(tmp / "link.zip", extra={info: b"/etc/passwd"})
    return path, {}, ["media/link.png", "符号链接"]


def _xxe(tmp: Path) -> tuple[Path, dict[str, object], list[str]]:
    path = _package(tmp / "xxe.zip", item=_item("H1", stem="&secret;", doctype=XXE))
    return path, {}, ["items/H1.xml", "外部"]


def _billion_laughs(tmp: Path) -> tuple[Path, dict[str, object], list[str]]:
    path = _package(tmp / "laughs.zip", item=_item("H1", stem="&lol9;", doctype=LAUGHS))
    return path, {}, ["items/H1.xml", "XML 炸弹"]


def _laughing_manifest(tmp: Path) -> tuple[Path, dict[str, object], list[str]]:
    return _package(tmp / "manifest.zip", manifest_doctype=LAUGHS), {}, ["imsmanifest.xml", "实体"]


def _svg_as_png(tmp: Path) -> tuple[Path, dict[str, object], list[str]]:
    item = _item("H1", img='<img src="../media/scene.png" alt="现场"/>')
    path = _package(tmp / "svg.zip", item=item, extra={"media/scene.png": SVG})
    return path, {}, ["scene.png", "不是 image/png"]


def _png_polyglot(tmp: Path) -> tuple[Path, dict[str, object], list[str]]:
    """An image with a zip appended: zipfile alone would read it as a package."""
    package = _package(tmp / "inner.zip").read_bytes()
    path = tmp / "polyglot.zip"
    path.write_bytes(PNG + package)
    return path, {}, ["不是有效的 zip"]


def _csv_named_xlsx(tmp: Path) -> tuple[Path, dict[str, object], list[str]]:
    path = tmp / "fake.xlsx"
    path.write_text("试题编号,题型,题干\nX-1,单选,题\n", encoding="utf-8")
    return path, {}, ["不是有效的 Excel"]


def _formula_cells(tmp: Path) -> tuple[Path, dict[str, object], list[str]]:
    row: list[object] = [
        "X-1",
        "单选",
        '=HYPERLINK("http://evil.example/","点这里")',
        "报警",
        "离开",
        "A",
        "综合",
    ]
    return _workbook(tmp / "formula.xlsx", [row]), {}, ["单元格是公式", "@题干"]


def _oversized_csv_cell(tmp: Path) -> tuple[Path, dict[str, object], list[str]]:
    path = tmp / "huge_cell.csv"
    path.write_text(
        '试题编号,题型,题干,选项A,选项B,答案\nX-1,单选,"' + "长" * 200_000 + '",甲,乙,A\n', encoding="utf-8"
    )
    return path, {}, ["单元格超过", "字符的上限"]


CASES: dict[str, Case] = {
    "honest QTI zip bomb": _honest_qti_bomb,
    "QTI zip bomb whose header lies": _lying_qti_bomb,
    "zip declaring 4 GB": _declares_4gb,
    "honest xlsx zip bomb": _honest_xlsx_bomb,
    "xlsx zip bomb whose header lies": _lying_xlsx_bomb,
    "too many members": _too_many_members,
    "path traversal member": _path_traversal,
    "absolute member": _absolute_member,
    "symlink member": _symlink_member,
    "external entity (XXE)": _xxe,
    "billion laughs": _billion_laughs,
    "billion laughs in the manifest": _laughing_manifest,
    "SVG disguised as PNG": _svg_as_png,
    "PNG/zip polyglot": _png_polyglot,
    "CSV named .xlsx": _csv_named_xlsx,
    "formula cells": _formula_cells,
    "oversized CSV cell": _oversized_csv_cell,
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_a_hostile_file_is_refused_and_nothing_is_stored(
    case: str, session: Session, client: FlaskClient, stocked: tuple[int, ...], tmp_path: Path
) -> None:
    folder = tmp_path / "hostile"
    folder.mkdir()
    path, kwargs, expected = CASES[case](folder)
    reasons = _refused(session, path, stocked, **kwargs)
    for words in expected:
        assert words in reasons, reasons
    assert client.get("/login").status_code == 200, "the server must still answer"


def test_zip_bombs_are_refused_with_bounded_memory(tmp_path: Path) -> None:
    """Reading a bomb costs what the limits allow, not what the bomb expands to (50 MB here)."""
    paths = [builder(tmp_path)[0] for builder in (_honest_qti_bomb, _lying_qti_bomb, _lying_xlsx_bomb)]
    tracemalloc.start()
    try:
        for path in paths:
            parsed = read_file(path, name=path.name)
            assert parsed.problems and not parsed.items
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1024 / 1024:.1f} MB"


def test_a_member_is_read_no_further_than_its_limit(tmp_path: Path) -> None:
    """With the ratio test out of the way, a lying member is still stopped by the streamed count."""
    path = _lie(_bomb(tmp_path / "liar.zip", "big.bin"), "big.bin", 3 * 1024 * 1024)
    limits = ArchiveLimits(member_bytes=4 * 1024 * 1024, ratio=1e9)
    with SafeZip(path, limits=limits) as zf, pytest.raises(ArchiveError) as refused:
        zf.read("big.bin")
    assert "big.bin" in refused.value.message and "不符" in refused.value.message


def test_a_file_over_the_size_cap_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_bytes(b"x" * 2048)
    parsed = read_file(path, max_file_bytes=1024)
    assert parsed.problems and "超过上限" in parsed.problems[0].reason


def _token(page: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert match, "page has no csrf-token meta tag"
    return match.group(1)


# ----- the same files through the web: /bank/exchange's import job -----

WEB_CASES = [
    "QTI zip bomb whose header lies",
    "honest xlsx zip bomb",
    "external entity (XXE)",
    "symlink member",
]


@pytest.fixture
def author(session: Session) -> str:
    session.add(User(username="author", display_name="命题人", roles=["author"],
                     password_hash=hash_password("hostile-files-pw-1", "low")))  # fmt: skip
    session.commit()
    return "hostile-files-pw-1"


@pytest.mark.parametrize("case", WEB_CASES, ids=WEB_CASES)
def test_a_hostile_upload_is_refused_by_the_import_job(
    case: str, app: Flask, client: FlaskClient, session: Session, author: str, tmp_path: Path
) -> None:
    token = _token(client.get("/staff/login").get_data(as_text=True))
    login = client.post("/staff/login", data={"username": "author", "password": author, "csrf_token": token})
    assert login.status_code == 302
    token = _token(client.get("/bank/exchange").get_data(as_text=True))
    before = _counts(session)
    path, _, expected = CASES[case](tmp_path)
    answer = client.post("/bank/exchange/import", content_type="multipart/form-data",
                         data={"csrf_token": token, "status": "in_review",
                               "file": (io.BytesIO(path.read_bytes()), path.name)})  # fmt: skip
    assert answer.status_code == 302, answer.get_data(as_text=True)
    job = session.get(Job, int(answer.headers["Location"].rstrip("/").split("/")[-1]), populate_existing=True)
    assert job is not None and job.status == "done" and job.result is not None and job.result["ok"] is False
    report = client.get(f"/bank/exchange/imports/{job.id}").get_data(as_text=True)
    for words in expected:
        assert html.escape(words, quote=False) in report, report
    session.expire_all()
    assert _counts(session) == before
    assert list(Path(app.config["JOBS_UPLOAD_DIR"]).iterdir()) == []  # the upload is gone after its job
    assert client.get("/bank/items").status_code == 200 and client.get("/login").status_code == 200


def test_a_byte_changed_inside_deflated_data_is_refused(tmp_path: Path) -> None:
    """zlib fails before zipfile's CRC check can (an invalid block here): still a refusal naming the member."""
    path = tmp_path / "damaged.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("results.json", b'{"answers": "' + b"A" * 2000 + b'"}')
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        offset = zf.getinfo("results.json").header_offset
    name_len, extra_len = struct.unpack("<HH", data[offset + 26:offset + 30])
    data[offset + 30 + name_len + extra_len] |= 0b110  # the first deflate block's type: 3, which does not exist
    path.write_bytes(bytes(data))
    with SafeZip(path) as zf, pytest.raises(ArchiveError) as refused:
        zf.read("results.json")
    assert "results.json" in refused.value.message and "损坏" in refused.value.message
