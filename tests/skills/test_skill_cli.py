"""examctl's skill commands: stations listed code first, a sitting set up, scores imported (a bad file exits
non-zero naming row and field, storing nothing) and listed ticket first."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from openpyxl import Workbook
from skills_support import SkillWorld
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.sessions.models import Ticket
from exam_server.skills.models import SkillMark

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_skill_commands(app: Flask, session: Session, skill_world: SkillWorld, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["skill-stations", "--level", "5"])
    assert listed.exit_code == 0, listed.output
    assert [line.split("\t")[0] for line in listed.output.splitlines()] == ["S5-01", "S5-02", "S5-03"]
    made = runner.invoke(args=["create-skill-sitting", "--code", "K5-C", "--level", "5", "--date", "2026-12-21",
                               "--candidates-from", "K5"])
    assert made.exit_code == 0 and made.output.strip() == "K5-C", made.output
    setup = runner.invoke(args=["skill-setup", "K5-C", "--station", "S5-01=e1,e2", "--chief", "zk"])
    assert setup.exit_code == 0 and setup.output.splitlines() == ["S5-01\te1,e2"], setup.output
    ticket = session.scalar(select(Ticket.number).join(Ticket.session).where(Ticket.candidate_id ==
                                                                             skill_world.candidates[0].id,
                                                                             Ticket.number.like("K%"),
                                                                             Ticket.session.has(code="K5-C")))
    book = Workbook()
    book.active.append(["准考证号", "考站编号", "考评员账号", "要点1", "要点2", "要点3", "要点4"])
    book.active.append([ticket, "S5-01", "e1", 4, 6, 4, 6])
    book.active.append([ticket, "S5-01", "e2", 4, 6, 4, 60])
    bad = tmp_path / "bad.xlsx"
    book.save(bad)
    refused = runner.invoke(args=["import-skill-scores", "K5-C", str(bad), "--as", "staff"])
    assert refused.exit_code != 0 and "第 3 行「要点4」" in refused.output, refused.output
    assert session.scalar(select(func.count()).select_from(SkillMark)) == 0
    book.active.delete_rows(3)
    book.active.append([ticket, "S5-01", "e2", 4, 5, 4, 6])
    good = tmp_path / "good.xlsx"
    book.save(good)
    imported = runner.invoke(args=["import-skill-scores", "K5-C", str(good), "--as", "staff"])
    assert imported.exit_code == 0, imported.output
    assert f"{ticket}\tS5-01\te1\t20" in imported.output and f"{ticket}\tS5-01\te2\t19" in imported.output
    scores = runner.invoke(args=["skill-scores", "K5-C"])
    assert scores.output.splitlines()[0].startswith(f"{ticket}\tS5-01\t20/19\t19.5\t"), scores.output
