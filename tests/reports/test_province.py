"""A centre's signed period file and the province's summary: two centres' files sum up; the same file twice
changes nothing; a tampered file, an unknown centre or an unregistered key is refused with the reason and
nothing stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reports_support import World
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.reports import figures as F
from exam_server.reports import operations, signing
from exam_server.reports.models import CentreReportImport

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
PERIOD = F.Period.parse("2026-03-01", "2026-04-30")


def _file(session: Session, world: World, code: str, keys: Path) -> dict:
    return signing.parse_envelope(operations.centre_file(session, world.centres[code], PERIOD, keys), f"{code}.json")


def _register(session: Session, world: World, code: str, keys: Path) -> None:
    public = signing.public_text(signing.centre_key(keys, code))
    operations.register_key(session, world.centres[code], public, "test")


def _imports(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(CentreReportImport)) or 0


def test_the_province_sums_two_centres_files(session: Session, world: World, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    for code in ("C1", "C2"):
        _register(session, world, code, keys)
    assert (keys / "C1.pem").stat().st_mode & 0o077 == 0  # the private key is its owner's only
    c1, c2 = _file(session, world, "C1", keys), _file(session, world, "C2", keys)
    assert operations.import_file(session, c1, "test", "C1.json").created
    assert operations.import_file(session, c2, "test", "C2.json").created
    again = operations.import_file(session, c1, "test", "C1.json")
    assert not again.created and "未做任何更改" in again.message()
    assert _imports(session) == 2
    summary, rows = operations.province_summary(session)
    assert len(rows) == 2
    level5 = {r["key"]: r for r in summary["attendance"]["level"]}["5"]
    # C1: 10 scheduled, 8 present, 6 passed; C2: k, present and passed.
    assert (level5["scheduled"], level5["present"], level5["absent"], level5["passed"]) == (11, 9, 2, 7)
    units = {r["key"]: r["present"] for r in summary["attendance"]["unit"]}
    assert units == {"U1": 5, "U2": 4, "U3": 1}
    assert summary["certificates"][0]["issued"] == 4
    assert summary["distribution"]["5-theory"]["bins"] == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]  # C1 50 60 80 90, C2 70
    # A later file of the same centre and period replaces the earlier one in the sum; the earlier stays.
    newer = _file(session, world, "C1", keys)
    if newer["payload"] != c1["payload"]:
        assert operations.import_file(session, newer, "test", "C1-2.json").replaced is not None
        assert len(operations.province_summary(session)[1]) == 2 and _imports(session) == 3


def test_a_tampered_or_unknown_file_is_refused_and_nothing_stored(session: Session, world: World,
                                                                  tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    _register(session, world, "C1", keys)
    good = _file(session, world, "C1", keys)
    payload = json.loads(good["payload"])
    payload["attendance"]["level"][0]["passed"] += 5
    tampered = good | {"payload": signing.canonical(payload)}
    with pytest.raises(F.ReportError, match="签名校验失败"):
        operations.import_file(session, tampered, "test", "tampered.json")
    with pytest.raises(F.ReportError, match="尚未在省级登记"):
        operations.import_file(session, _file(session, world, "C2", keys), "test", "C2.json")
    with pytest.raises(F.ReportError, match="未知的鉴定中心"):
        operations.import_file(session, good | {"centre": "C9"}, "test", "C9.json")
    # Signed by C2's key but claiming to be C1's.
    forged = signing.parse_envelope(signing.sign(payload, "C1", signing.centre_key(keys, "C2")), "forged.json")
    with pytest.raises(F.ReportError, match="不符"):
        operations.import_file(session, forged, "test", "forged.json")
    with pytest.raises(F.ReportError, match="不是有效的 JSON"):
        signing.parse_envelope(b"\x00not json", "junk.json")
    assert _imports(session) == 0


def test_a_public_key_that_is_not_one_is_refused(session: Session, world: World) -> None:
    with pytest.raises(F.ReportError, match="公钥无效"):
        operations.register_key(session, world.centres["C1"], "not-a-key", "test")
