"""examctl report / export-centre-report / centre-public-key / register-centre-key / import-centre-report /
province-summary, end to end on the hand-counted world."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from flask import Flask
from openpyxl import load_workbook
from reports_support import World

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_report_export_import_and_summary(app: Flask, world: World, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    xlsx = tmp_path / "report.xlsx"
    done = runner.invoke(args=["report", "--from", "2026-03-01", "--to", "2026-04-30", "--level", "5",
                               "-o", str(xlsx)])
    assert done.exit_code == 0, done.output
    ws = load_workbook(io.BytesIO(xlsx.read_bytes()))["考试-按等级"]
    assert [c.value for c in ws[2]][:3] == ["初级保安员（五级）", 11, 9]  # the whole province
    bad = runner.invoke(args=["report", "--from", "2026-04-30", "--to", "2026-03-01", "-o", str(xlsx)])
    assert bad.exit_code != 0 and "晚于" in bad.output

    files = {}
    for code in ("C1", "C2"):
        public = runner.invoke(args=["centre-public-key", "--centre", code])
        assert public.exit_code == 0, public.output
        key = public.output.strip().splitlines()[0]
        assert runner.invoke(args=["register-centre-key", code, key]).exit_code == 0
        files[code] = tmp_path / f"{code}.json"
        out = runner.invoke(args=["export-centre-report", "--centre", code, "--from", "2026-03-01",
                                  "--to", "2026-04-30", "-o", str(files[code])])
        assert out.exit_code == 0, out.output
    tampered = tmp_path / "tampered.json"
    envelope = json.loads(files["C2"].read_text(encoding="utf-8"))
    tampered.write_text(json.dumps(envelope | {"payload": envelope["payload"].replace('"issued":1', '"issued":9')}),
                        encoding="utf-8")
    refused = runner.invoke(args=["import-centre-report", str(tampered)])
    assert refused.exit_code != 0 and "签名校验失败" in refused.output
    for code in ("C1", "C2", "C1"):
        assert runner.invoke(args=["import-centre-report", str(files[code])]).exit_code == 0
    summary = runner.invoke(args=["province-summary"])
    assert summary.exit_code == 0, summary.output
    lines = summary.output.splitlines()
    assert sum(line.startswith("报送文件") for line in lines) == 2
    level5 = next(line for line in lines if line.startswith("初级保安员（五级）") and "\t11\t9\t" in line)
    assert level5.split("\t")[1:4] == ["11", "9", "2"]
