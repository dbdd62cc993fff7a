"""Every zip the server reads goes through item_bank.archives and every XML it parses through defusedxml: a new
reader that opens a zip or parses XML by itself fails here (writing zips and building XML stay free)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("item_bank", "exam_server", "scoring")
# zipfile.ZipFile(x) or ZipFile(x, "r"): a read. A write names mode "w"/"a"/"x".
ZIP_READ = re.compile(r"ZipFile\((?![^)]*[\"'][wax][\"'])[^)]*\)")
OTHER_OPENERS = re.compile(r"\b(tarfile\.open|shutil\.unpack_archive|load_workbook|read_excel)\(")
XML_PARSE = re.compile(
    r"\b(ET|ElementTree|etree|minidom|expatbuilder)\.(fromstring|parse|iterparse|XML|XMLParser)\("
)
# The one bounded reader: zips are read by it, and workbooks opened by `open_workbook` after `check_archive`.
ALLOWED = {"item_bank/archives.py": (ZIP_READ, OTHER_OPENERS)}


def _sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def test_zips_and_xml_are_read_only_through_the_bounded_readers() -> None:
    offenders = []
    for path in _sources():
        relative = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        for pattern in (ZIP_READ, OTHER_OPENERS, XML_PARSE):
            if pattern in ALLOWED.get(relative, ()):
                continue
            offenders += [f"{relative}: {m.group(0)}" for m in pattern.finditer(text)]
    assert offenders == [], "read these through item_bank.archives / defusedxml:\n" + "\n".join(offenders)


def test_the_workbook_opener_checks_the_archive_before_openpyxl_opens_it() -> None:
    text = (ROOT / "item_bank/archives.py").read_text(encoding="utf-8")
    opener = text[text.index("def open_workbook("):]
    assert 0 <= opener.index("check_archive(path") < opener.index("load_workbook(path")
