"""QTI 2.1 content packages: a zip with imsmanifest.xml, one assessmentItem file per item, images as
package resources.

Each item type writes and reads its own interaction (`qti_declare`, `qti_body`, `qti_process`,
`qti_read` in item_bank.types): single choice and true/false → choiceInteraction (maxChoices 1; a
true/false item is a two-choice 正确 / 错误 choice), multiple response → choiceInteraction with
cardinality multiple, fill-in → textEntryInteraction per blank (accepted answers as a mapping),
short answer / essay → extendedTextInteraction with the rubric and model answer in a scorer
rubricBlock. This module writes and reads the package around them. What QTI has no place for (levels, knowledge area, enemy group, item sets) travels as
a JSON note in the manifest's resource metadata, so our own packages round-trip exactly; a package
from another system simply lacks it and its items arrive unclassified.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as parse_xml

from item_bank.archives import DEFAULT_LIMITS, NOT_A_ZIP, ArchiveError, ArchiveLimits, SafeZip
from item_bank.exchange.flat import IMAGE_SUFFIXES
from item_bank.exchange.qti_xml import QTI_NS, QtiItem, q, sub, text_of
from item_bank.exchange.records import (
    ItemRecord,
    MediaRecord,
    ParsedFile,
    RowProblem,
    SetRecord,
    original_media_name,
)
from item_bank.media import MediaError, check_image
from item_bank.types import item_type, qti_interactions, read_qti_item
from scoring.rules import Method

CP_NS = "http://www.imsglobal.org/xsd/imscp_v1p1"
BANK_NS = "urn:baoan-exam:item-bank:1"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
QTI_SCHEMA = (
    "http://www.imsglobal.org/xsd/imsqti_v2p1 http://www.imsglobal.org/xsd/qti/qtiv2p1/imsqti_v2p1.xsd"
)
ITEM_RESOURCE = "imsqti_item_xmlv2p1"
SUPPORTED = qti_interactions()
# Entities are how a billion-laughs file multiplies itself and how an external entity reads a server file.
_ENTITIES_REFUSED = "{file} 含 DTD 实体或外部引用（可能是 XML 炸弹或外部实体攻击），已拒绝"
_NCNAME = re.compile(r"[^A-Za-z0-9_.\-]")

ET.register_namespace("bank", BANK_NS)
ET.register_namespace("qti", QTI_NS)
ET.register_namespace("imscp", CP_NS)


def _serialise(root: ET.Element, prefix: str) -> bytes:
    """XML bytes with `prefix`'s namespace as the default one (ElementTree cannot write a default
    namespace when attributes are unqualified, so the prefix is dropped after writing)."""
    text = ET.tostring(root, encoding="unicode")
    # Only tags carry the prefix: "<" in text content is always escaped as "&lt;".
    text = (
        text.replace(f"<{prefix}:", "<").replace(f"</{prefix}:", "</").replace(f"xmlns:{prefix}=", "xmlns=")
    )
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + text).encode("utf-8")


ET.register_namespace("xsi", XSI_NS)


def qti_identifier(external_id: str) -> str:
    """A valid QTI identifier (NCName) for an external id."""
    ident = _NCNAME.sub("_", external_id)
    return ident if ident[:1].isalpha() or ident[:1] == "_" else f"I{ident}"


# ----- writing -----


def _media_path(m: MediaRecord) -> str:
    return f"media/{hashlib.sha256(m.data).hexdigest()[:12]}_{safe_media_name(m.name, m.mime)}"


def safe_media_name(name: str, mime: str = "", fallback: str = "image") -> str:
    """A file name another system can live with: no spaces or path, with the image's extension."""
    stem, suffix = posixpath.splitext(posixpath.basename(name.replace("\\", "/")))
    if suffix.lower() not in IMAGE_SUFFIXES:
        stem = posixpath.basename(name)
        suffix = next((s for s, m in IMAGE_SUFFIXES.items() if m == mime), "")
    stem = re.sub(r"[\s/\\:*?\"<>|]+", "_", stem).strip("._") or fallback
    return f"{stem[:80]}{suffix.lower()}"


_BREAKS = re.compile(r"[ \t\r\n\u3000]*[\t\r\n][ \t\r\n\u3000]*")
_CJK_GAP = re.compile(
    r"(?<=[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]) (?=[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef])"
)


def tidy_text(text: str) -> str:
    """Text from a foreign item's XML as a person typed it: the file's indentation and line breaks become
    one space (none between Chinese characters), runs of spaces one."""
    text = _BREAKS.sub(" ", text)
    text = _CJK_GAP.sub("", text)
    return re.sub(r" {2,}", " ", text).strip()


def _images(parent: ET.Element, media: list[MediaRecord], files: dict[str, bytes]) -> None:
    if not media:
        return
    p = sub(parent, "p")
    for m in media:
        href = _media_path(m)
        files[href] = m.data
        sub(p, "img", src=f"../{href}", alt=Path(m.name).stem)


def _item_xml(r: ItemRecord, stimulus: SetRecord | None, files: dict[str, bytes]) -> bytes:
    ident = qti_identifier(r.external_id)
    root = ET.Element(
        q("assessmentItem"),
        {
            "identifier": ident,
            "title": r.external_id,
            "adaptive": "false",
            "timeDependent": "false",
            f"{{{XSI_NS}}}schemaLocation": QTI_SCHEMA,
        },
    )
    kind = item_type(r.type)
    kind.qti_declare(root, r)
    score = sub(
        root, "outcomeDeclaration", identifier="SCORE", cardinality="single", baseType="float",
        normalMaximum=f"{r.points:g}",
    )  # fmt: skip
    sub(sub(score, "defaultValue"), "value", "0")

    body = sub(root, "itemBody")
    if stimulus is not None:
        div = sub(body, "div", **{"class": "stimulus"})
        sub(div, "p", stimulus.stimulus)
        _images(div, stimulus.media, files)
    _images(body, r.media, files)
    kind.qti_body(body, r)
    kind.qti_process(root, r)
    return _serialise(root, "qti")


def _bank_note(r: ItemRecord) -> dict[str, Any]:
    note: dict[str, Any] = {
        "id": r.external_id,
        "type": r.type,
        "points": r.points,
        "levels": r.levels,
        "part": r.part,
        "knowledge_area": r.area,
        "enemy_group": r.enemy_group,
        "set_id": r.set_id,
        "set_position": r.set_position,
        "difficulty": r.difficulty,
        "irt": {"a": r.irt_a, "b": r.irt_b, "c": r.irt_c},
        "source": r.source,
        "cognitive_level": r.cognitive_level,
        "attributes": r.attributes,
    }
    for name in ("explanation", "max_chars"):
        if r.content.get(name):
            note[name] = r.content[name]
    return note


def write_qti(path: Path, items: list[ItemRecord], sets: list[SetRecord]) -> None:
    """Write a QTI 2.1 content package with every item, its images and our metadata."""
    by_set = {s.external_id: s for s in sets}
    files: dict[str, bytes] = {}
    manifest = ET.Element(f"{{{CP_NS}}}manifest", {"identifier": "MANIFEST-baoan-item-bank"})
    meta = ET.SubElement(manifest, f"{{{CP_NS}}}metadata")
    ET.SubElement(meta, f"{{{CP_NS}}}schema").text = "QTIv2.1 Package"
    ET.SubElement(meta, f"{{{CP_NS}}}schemaversion").text = "1.0.0"
    set_notes = []
    for s in sets:
        hrefs = []
        for m in s.media:
            href = _media_path(m)
            files[href] = m.data
            hrefs.append({"name": m.name, "href": href})
        set_notes.append({"id": s.external_id, "title": s.title, "stimulus": s.stimulus, "media": hrefs})
    ET.SubElement(meta, f"{{{BANK_NS}}}itemSets").text = json.dumps(set_notes, ensure_ascii=False)
    ET.SubElement(manifest, f"{{{CP_NS}}}organizations")
    resources = ET.SubElement(manifest, f"{{{CP_NS}}}resources")
    item_files: dict[str, bytes] = {}
    used: set[str] = set()
    for r in items:
        ident = qti_identifier(r.external_id)
        while ident in used:
            ident += "_"
        used.add(ident)
        href = f"items/{ident}.xml"
        own: dict[str, bytes] = {}
        item_files[href] = _item_xml(r, by_set.get(r.set_id or ""), own)
        files.update(own)
        res = ET.SubElement(
            resources,
            f"{{{CP_NS}}}resource",
            {"identifier": f"RES-{ident}", "type": ITEM_RESOURCE, "href": href},
        )
        rmeta = ET.SubElement(res, f"{{{CP_NS}}}metadata")
        ET.SubElement(rmeta, f"{{{BANK_NS}}}item").text = json.dumps(_bank_note(r), ensure_ascii=False)
        ET.SubElement(res, f"{{{CP_NS}}}file", {"href": href})
        for media_href in own:
            ET.SubElement(res, f"{{{CP_NS}}}file", {"href": media_href})
    manifest_xml = _serialise(manifest, "imscp")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("imsmanifest.xml", manifest_xml)
        for href, data in item_files.items():
            zf.writestr(href, data)
        for href, data in files.items():
            zf.writestr(href, data)


# ----- reading -----


def _strip_ns(root: ET.Element) -> ET.Element:
    for el in root.iter():
        if isinstance(el.tag, str) and "}" in el.tag:
            el.tag = el.tag.split("}", 1)[1]
    return root


class _PackageReader:
    def __init__(self, zf: SafeZip, parsed: ParsedFile, default_levels: list[int], max_media_bytes: int):
        self.zf = zf
        self.parsed = parsed
        self.default_levels = default_levels
        self.max_media_bytes = max_media_bytes
        self.names = set(zf.namelist())

    def problem(self, where: str | None, column: str, reason: str) -> None:
        self.parsed.problems.append(RowProblem(self.parsed.file, where, column, reason))

    def load_media(self, where: str, href: str, name: str | None = None) -> MediaRecord | None:
        if href not in self.names:
            self.problem(where, "img", f"包中找不到图片 {href}")
            return None
        suffix = Path(href).suffix.lower()
        if suffix not in IMAGE_SUFFIXES:
            self.problem(where, "img", f"{href} 不是支持的图片格式")
            return None
        size = self.zf.file_size(href)
        if size > self.max_media_bytes:
            self.problem(
                where,
                "img",
                f"图片 {href} 大小 {size / 1024 / 1024:.1f} MB 超过上限 {self.max_media_bytes / 1024 / 1024:.1f} MB",
            )
            return None
        data = self.zf.read(href)
        try:
            check_image(href, data, self.max_media_bytes)
        except MediaError as exc:
            self.problem(where, "img", exc.message)
            return None
        own = original_media_name(posixpath.basename(href), data)
        # A foreign item's alt text describes the picture ("a map of the site"); the file is named after it
        # only with the file's extension and without spaces.
        chosen = safe_media_name(name, IMAGE_SUFFIXES[suffix], fallback=Path(own).stem) if name else own
        if Path(chosen).suffix.lower() not in IMAGE_SUFFIXES:
            chosen = f"{Path(chosen).stem}{suffix}"
        return MediaRecord(chosen, data, IMAGE_SUFFIXES[suffix])

    def read(self) -> None:
        manifest_name = next((n for n in sorted(self.names, key=len) if n.endswith("imsmanifest.xml")), None)
        if manifest_name is None:
            self.problem(None, "imsmanifest.xml", "不是 QTI 内容包：缺少 imsmanifest.xml")
            return
        base = posixpath.dirname(manifest_name)
        try:
            manifest = _strip_ns(parse_xml(self.zf.read(manifest_name)))
        except ET.ParseError as exc:
            self.problem(None, "imsmanifest.xml", f"清单文件 XML 格式错误: {exc}")
            return
        except DefusedXmlException:
            self.problem(None, "imsmanifest.xml", _ENTITIES_REFUSED.format(file=manifest_name))
            return
        sets_note = manifest.find("./metadata/itemSets")
        if sets_note is not None and sets_note.text:
            for s in json.loads(sets_note.text):
                media = [
                    m
                    for m in (
                        self.load_media(s["id"], posixpath.join(base, h["href"]), h.get("name"))
                        for h in s.get("media", [])
                    )
                    if m is not None
                ]
                self.parsed.sets.append(
                    SetRecord(
                        self.parsed.file,
                        s["id"],
                        s["id"],
                        title=s.get("title", ""),
                        stimulus=s.get("stimulus", ""),
                        media=media,
                        columns={"stem": "stimulus"},
                    )
                )
        resources = [r for r in manifest.iter("resource") if (r.get("type") or "").startswith("imsqti_item")]
        if not resources:
            self.problem(None, "resources", "清单中没有 QTI 试题资源（imsqti_item_xmlv2p1）")
        for position, res in enumerate(resources):
            href = posixpath.normpath(posixpath.join(base, res.get("href") or ""))
            where = res.get("identifier") or href
            self.parsed.order.setdefault(where, position)
            note_el = res.find("./metadata/item")
            note = json.loads(note_el.text) if note_el is not None and note_el.text else {}
            if href not in self.names:
                self.problem(where, "href", f"包中找不到试题文件 {href}")
                continue
            try:
                item = _strip_ns(parse_xml(self.zf.read(href)))
            except ET.ParseError as exc:
                self.problem(where, "assessmentItem", f"试题文件 {href} XML 格式错误: {exc}")
                continue
            except DefusedXmlException:
                self.problem(where, "assessmentItem", _ENTITIES_REFUSED.format(file=href))
                continue
            self.item(item, href, note)

    def item(self, root: ET.Element, href: str, note: dict[str, Any]) -> None:
        external_id = str(note.get("id") or root.get("identifier") or href)
        where = external_id
        self.parsed.order.setdefault(where, len(self.parsed.order))
        before = len(self.parsed.problems)
        body = root.find("itemBody")
        if body is None:
            self.problem(where, "itemBody", "试题缺少 itemBody")
            return
        interactions = [el for el in body.iter() if el.tag.endswith("Interaction")]
        kinds = {el.tag for el in interactions}
        unsupported = kinds - set(SUPPORTED)
        if unsupported or not kinds:
            self.problem(
                where, "itemBody", f"不支持的交互类型 {', '.join(sorted(unsupported)) or '（无交互）'}"
            )
            return
        if len(kinds) > 1 or (kinds != {"textEntryInteraction"} and len(interactions) > 1):
            self.problem(where, "itemBody", "一道题只能有一种交互（复合题请拆成题组）")
            return
        decls = {d.get("identifier"): d for d in root.findall("responseDeclaration")}
        item_dir = posixpath.dirname(href)
        media: list[MediaRecord] = []
        for div in body.iter("div"):
            if "stimulus" in (div.get("class") or ""):
                div.set("data-skip", "1")
        skip = {id(el) for div in body.iter("div") if div.get("data-skip") for el in div.iter()}
        for img in body.iter("img"):
            if id(img) in skip:
                continue
            m = self.load_media(
                where, posixpath.normpath(posixpath.join(item_dir, img.get("src") or "")), img.get("alt")
            )
            if m is not None:
                media.append(m)
        seen = QtiItem(
            root, body, interactions, decls, lambda: self._loose_text(body, skip),
            lambda column, reason: self.problem(where, column, reason),
        )  # fmt: skip
        kind, read = read_qti_item(next(iter(kinds)), seen, note.get("type"))
        content, key, stem = read.content, read.key, read.stem
        draft_reason = ""
        if not note:
            # Another system's XML: its indentation is layout, not text.
            stem = tidy_text(stem)
            if isinstance(content.get("options"), list):
                content["options"] = [tidy_text(str(o)) for o in content["options"]]
            if kind.method is Method.PEOPLE and not content.get("rubric"):
                # An extended-text item with no scorer rubric can still be written up: it arrives as a draft
                # its author completes before review.
                draft_reason = "原题没有评分要点，已作为草稿导入：请补充评分要点和参考答案后再提交审核"
        for name in ("explanation", "max_chars"):
            if note.get(name):
                content[name] = note[name]
        points = note.get("points")
        if points is None:
            score = next(
                (o for o in root.findall("outcomeDeclaration") if o.get("identifier") == "SCORE"), None
            )
            points = (
                float(score.get("normalMaximum")) if score is not None and score.get("normalMaximum") else 1.0
            )
        irt = note.get("irt") or {}
        record = ItemRecord(
            self.parsed.file,
            where,
            external_id,
            kind.name,
            stem,
            content=content,
            key=key,
            points=float(points),
            levels=list(note.get("levels") or self.default_levels),
            part=note.get("part") or "theory",
            area=note.get("knowledge_area") or None,
            source=note.get("source") or f"QTI {self.parsed.file}",
            enemy_group=note.get("enemy_group"),
            set_id=note.get("set_id"),
            set_position=int(note.get("set_position") or 0),
            difficulty=note.get("difficulty"),
            irt_a=irt.get("a"),
            irt_b=irt.get("b"),
            irt_c=irt.get("c"),
            media=media,
            cognitive_level=note.get("cognitive_level") or None,
            attributes=dict(note.get("attributes") or {}),
            draft_reason=draft_reason,
            columns={"key": "correctResponse", "options": "simpleChoice", "stem": "prompt", "id": "identifier",
                     "rubric": "rubricBlock", "model_answer": "rubricBlock", "knowledge_area": "metadata"},
        )  # fmt: skip
        if len(self.parsed.problems) == before:
            self.parsed.items.append(record)

    def _loose_text(self, body: ET.Element, skip: set[int]) -> str:
        """Text of the item body outside interactions and scorer rubrics (a foreign item's stem)."""
        parts = []
        for child in body:
            if id(child) in skip or child.tag.endswith("Interaction") or child.tag == "rubricBlock":
                continue
            text = text_of(child).strip()
            if text:
                parts.append(text)
        return "\n".join(parts)


def read_qti(
    path: Path,
    *,
    name: str | None = None,
    default_levels: list[int],
    max_media_bytes: int,
    limits: ArchiveLimits = DEFAULT_LIMITS,
) -> ParsedFile:
    """Every item of a QTI 2.1 content package as records; problems name the resource or item id.

    The zip is read within `limits` and its XML without entities or external references: a hostile
    package is one problem naming the member, never a full disk or memory.
    """
    name = name or path.name
    parsed = ParsedFile(file=name, format="qti", encoding="utf-8")
    try:
        with SafeZip(path, name=name, limits=limits) as zf:
            # Members the manifest never names are checked too: a package with a bomb inside is refused,
            # not imported around it.
            zf.verify()
            _PackageReader(zf, parsed, default_levels, max_media_bytes).read()
    except ArchiveError as exc:
        # A package that fails its limits is refused as a whole: nothing read from it is kept.
        parsed.items.clear()
        parsed.sets.clear()
        reason = "不是有效的 zip 文件（QTI 内容包应为 zip）" if exc.code == NOT_A_ZIP else exc.message
        parsed.problems.append(RowProblem(name, None, exc.member or "-", reason))
    except (json.JSONDecodeError, KeyError, ValueError) as exc:
        parsed.problems.append(RowProblem(name, None, "metadata", f"包内元数据无法读取: {exc}"))
    return parsed
