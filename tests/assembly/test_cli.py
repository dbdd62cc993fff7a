"""`examctl assemble`, `blueprint ...` and `form ...` on a small bank."""

from __future__ import annotations

from pathlib import Path

from assembly_bank import rich_bank, small_spec
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from item_bank.blueprints import dump_spec
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
