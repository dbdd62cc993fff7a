"""An import brings only raster images that travel with it: no server files, no SVG, no disguised content."""

from __future__ import annotations

import base64
import csv
import io
import json
import zipfile
from pathlib import Path

import pytest

from item_bank.exchange.csv_io import read_csv
from item_bank.exchange.json_io import read_json
from item_bank.exchange.qti import read_qti

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'


def _csv(folder: Path, media: str) -> Path:
    path = folder / "bank.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["试题编号", "题型", "题干", "选项A", "选项B", "答案", "知识点", "图片"])
        writer.writerow(["M-1", "单选", "看图回答（ ）。", "甲", "乙", "A", "综合", media])
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "server_secret.png"
    secret.write_bytes(PNG)  # a real image, so only the path rule can refuse it
    (tmp_path / "upload").mkdir()
    return tmp_path / "upload"


@pytest.mark.parametrize("media", ["../server_secret.png", "sub/../../server_secret.png", "ABSOLUTE"])
def test_a_media_cell_cannot_name_a_file_outside_the_import(outside: Path, media: str) -> None:
    if media == "ABSOLUTE":
        media = str(outside.parent / "server_secret.png")
    parsed = read_csv(_csv(outside, media), default_levels=[5], max_media_bytes=1 << 20)
    assert any(p.column == "图片" and "路径" in p.reason for p in parsed.problems), parsed.problems
    assert not any(item.media for item in parsed.items)


@pytest.mark.parametrize(("name", "data"), [("x.svg", SVG), ("x.png", SVG), ("x.png", b"GIF89a....")])
def test_svg_and_disguised_images_are_refused_in_csv(outside: Path, name: str, data: bytes) -> None:
    (outside / name).write_bytes(data)
    parsed = read_csv(_csv(outside, name), default_levels=[5], max_media_bytes=1 << 20)
    assert any(p.column == "图片" for p in parsed.problems), parsed.problems


def test_a_real_png_beside_the_file_is_accepted(outside: Path) -> None:
    (outside / "img").mkdir()
    (outside / "img" / "scene.png").write_bytes(PNG)
    parsed = read_csv(_csv(outside, "img/scene.png"), default_levels=[5], max_media_bytes=1 << 20)
    assert not parsed.problems and parsed.items[0].media[0].mime == "image/png"


def test_json_media_paths_and_svg_are_refused(outside: Path) -> None:
    item = {"id": "J-1", "type": "single", "stem": "看图（ ）。", "options": ["甲", "乙"], "answer": "A",
            "media": [{"name": "a.png", "path": "../server_secret.png"},
                      {"name": "b.svg", "mime": "image/svg+xml", "data_base64": base64.b64encode(SVG).decode()}]}
    path = outside / "bank.json"
    path.write_text(json.dumps({"items": [item]}, ensure_ascii=False), encoding="utf-8")
    parsed = read_json(path, default_levels=[5], max_media_bytes=1 << 20)
    reasons = [p.reason for p in parsed.problems]
    assert len(reasons) >= 2 and any("路径" in r for r in reasons), reasons


def test_an_svg_in_a_qti_package_is_refused(tmp_path: Path) -> None:
    item = """<?xml version="1.0" encoding="UTF-8"?>
<assessmentItem xmlns="http://www.imsglobal.org/xsd/imsqti_v2p1" identifier="Q1" title="t" adaptive="false"
  timeDependent="false">
 <responseDeclaration identifier="RESPONSE" cardinality="single" baseType="identifier">
  <correctResponse><value>A</value></correctResponse></responseDeclaration>
 <itemBody><p>看图<img src="media/x.svg" alt="x"/></p>
  <choiceInteraction responseIdentifier="RESPONSE" maxChoices="1">
   <simpleChoice identifier="A">甲</simpleChoice><simpleChoice identifier="B">乙</simpleChoice>
  </choiceInteraction></itemBody>
</assessmentItem>"""
    manifest = """<?xml version="1.0" encoding="UTF-8"?>
<manifest xmlns="http://www.imsglobal.org/xsd/imscp_v1p1" identifier="M"><resources>
 <resource identifier="R1" type="imsqti_item_xmlv2p1" href="q1.xml"><file href="q1.xml"/></resource>
</resources></manifest>"""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("imsmanifest.xml", manifest)
        zf.writestr("q1.xml", item)
        zf.writestr("media/x.svg", SVG)
    path = tmp_path / "qti.zip"
    path.write_bytes(buffer.getvalue())
    parsed = read_qti(path, default_levels=[5], max_media_bytes=1 << 20)
    assert parsed.problems, "the SVG must be refused"
    assert not any(m.mime == "image/svg+xml" for i in parsed.items for m in i.media)
