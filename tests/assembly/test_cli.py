"""`examctl assemble`, `blueprint ...` and `form ...` on a small bank."""

from __future__ import annotations

import json
import re
from pathlib import Path

from assembly_bank import rich_bank, small_spec
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from item_bank.blueprints import RuleSpec, dump_spec
from item_bank.models import Form


def test_assemble_report_lock_from_the_shell(app: Flask, session: Session, tmp_path: Path) -> None:
    rich_bank(session)
    session.commit()
    path = tmp_path / "bp.yaml"
    dump_spec(small_spec(name="命令行蓝图"), path)
    runner = app.test_cli_runner()
    out = runner.invoke(args=["assemble", "--blueprint", str(path), "--forms", "2", "--time-limit", "20"])
    assert out.exit_code == 0, out.output
    assert (
        "已创建蓝图「命令行蓝图」" in out.output and "最优性差距" in out.output and "限 20 秒" in out.output
    )
    codes = session.scalars(select(Form.code).order_by(Form.code)).all()
    assert len(codes) == 2
    report = runner.invoke(args=["form", "report", codes[0], "--plot", str(tmp_path / "f.png")])
    assert report.exit_code == 0, report.output
    assert "知识点 × 题型" in report.output and "平行卷重复题数" in report.output
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    approved = runner.invoke(args=["form", "approve", codes[0], "--actor", "cli:甲"])
    assert approved.exit_code == 0, approved.output
    locked = runner.invoke(args=["form", "lock", codes[0], "--actor", "cli:乙", "--yes"])
    assert locked.exit_code == 0 and "已锁定" in locked.output
    again = runner.invoke(args=["form", "approve", codes[0]])
    assert again.exit_code == 1 and "已锁定" in again.output
    shown = runner.invoke(args=["blueprint", "show", "命令行蓝图"])
    assert "name: 命令行蓝图" in shown.output


def test_cli_infeasible_message(app: Flask, session: Session) -> None:
    rich_bank(session, per_cell=1)
    session.commit()
    runner = app.test_cli_runner()
    path = Path(app.instance_path).parent / "bp.json"
    dump_spec(small_spec(), path)
    out = runner.invoke(args=["assemble", "--blueprint", str(path)])
    assert out.exit_code == 1
    assert "无法组成试卷" in out.output and "判断题" in out.output and "只有 2 道" in out.output


def test_cli_bad_blueprint_file_names_field(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nlevel: 9\nsections: []\n", encoding="utf-8")
    out = app.test_cli_runner().invoke(args=["blueprint", "create", str(path)])
    assert out.exit_code == 1 and "level" in out.output and "sections" in out.output


def test_blueprint_export_import_seed_and_gap_as_given(app: Flask, session: Session, tmp_path: Path) -> None:
    rich_bank(session)
    session.commit()
    runner = app.test_cli_runner()
    assert "export" in runner.invoke(args=["blueprint", "--help"]).output
    source = tmp_path / "a.yaml"
    dump_spec(small_spec(name="导出蓝图", rules=[RuleSpec(area="A01", type="judge", min=1)]), source)
    assert runner.invoke(args=["blueprint", "import", str(source)]).exit_code == 0
    exported = tmp_path / "b.json"
    out = runner.invoke(args=["blueprint", "export", "导出蓝图", "-o", str(exported)])
    assert out.exit_code == 0 and "已导出" in out.output
    data = json.loads(exported.read_text(encoding="utf-8"))
    assert data["rules"][0]["area"] == "A01"
    data["name"] = "导入蓝图"
    exported.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    imported = runner.invoke(args=["blueprint", "import", str(exported)])
    assert imported.exit_code == 0 and "导入蓝图" in imported.output
    out = runner.invoke(args=["assemble", "--blueprint", "导入蓝图", "--gap", "0.0001", "--time-limit", "20"])
    assert out.exit_code == 0, out.output
    assert "要求相对差距 ≤ 0.0001" in out.output and "≤ 0%" not in out.output
    seed = re.search(r"随机种子 (\d+)（用 --seed \1 可重现", out.output)
    assert seed is not None
    again = runner.invoke(
        args=["assemble", "--blueprint", "导入蓝图", "--seed", seed.group(1), "--time-limit", "20"]
    )
    assert again.exit_code == 1 and "完全相同" in again.output and "没有保存任何试卷" in again.output
    kept = runner.invoke(
        args=["assemble", "--blueprint", "导入蓝图", "--seed", seed.group(1), "--time-limit", "20",
              "--allow-identical"]
    )  # fmt: skip
    assert kept.exit_code == 0 and "警告" in kept.output and "完全相同" in kept.output
    code = session.scalars(select(Form.code).order_by(Form.code)).first()
    runner.invoke(args=["form", "approve", code, "--actor", "cli:甲"])
    refused = runner.invoke(args=["form", "lock", code, "--actor", "cli:乙"], input="n\n")
    assert refused.exit_code == 1 and "未锁定" in refused.output
