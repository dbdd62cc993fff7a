"""`examctl tree standard|export|import` and `examctl attribute define|list`."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from item_bank.models import AttributeDefinition, KnowledgeArea


def test_tree_commands(app: Flask, session: Session, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["tree", "standard"])
    assert result.exit_code == 0, result.output
    assert "五级理论知识：新建 22 个知识点和比重表" in result.output and "新建 159 个知识点" in result.output
    assert session.scalar(select(func.count()).select_from(KnowledgeArea)) == 181
    out = tmp_path / "四级.xlsx"
    result = runner.invoke(args=["tree", "export", str(out), "--level", "4", "--part", "theory"])
    assert result.exit_code == 0 and "已导出" in result.output and out.is_file()
    result = runner.invoke(args=["tree", "import", str(out), "--dry-run"])
    assert result.exit_code == 0 and "预检（未保存）" in result.output and "未变" in result.output
    bad = tmp_path / "bad.json"
    bad.write_text('{"trees": [{"level": 9, "areas": [{"code": "1", "name": "x"}]}]}', encoding="utf-8")
    result = runner.invoke(args=["tree", "import", str(bad)])
    assert result.exit_code == 1 and "等级 '9' 无效" in result.output and "未保存任何知识点" in result.output


def test_attribute_commands(app: Flask, session: Session) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["attribute", "define", "scene", "--label", "情景", "--value", "日间", "--value", "夜间"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        args=["attribute", "define", "dok", "--label", "知识深度", "--number", "--min", "1", "--max", "4"]
    )
    assert result.exit_code == 0, result.output
    listed = runner.invoke(args=["attribute", "list"]).output
    assert (
        "情景（scene，枚举）：日间、夜间" in listed
        and "知识深度（dok，数值）：数值 1～4" in listed
        and "识记" in listed
    )
    refused = runner.invoke(args=["attribute", "define", "points", "--number"])
    assert refused.exit_code == 1 and "试题自带的字段" in refused.output
    assert session.scalar(select(func.count()).select_from(AttributeDefinition)) == 2
