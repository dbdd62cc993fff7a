"""Issue 14's "done when", as a centre does it: from an empty SQLite database, with examctl (click's CliRunner on
the real command group, each command its own app as in a shell) and the screens (Flask's test client), and no
seed code — organisations, staff, the bank imported and approved by a second person, a blueprint, parallel forms
approved and locked by two people, level 5 opened, two units importing their trainees from the application
template, 初审 by each unit, 复审 by the centre, a sitting over two rooms, the approved scheduled, the tickets
printed and read (pdftotext), and candidates who sit under the rules the ticket prints: a proctor checks them
in (only in their own room), late entry refused unless the proctor admits the candidate, 交卷 refused before the
minimum time, everyone's end the sitting's common end."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import app_config, csrf_token_from, need_service
from flask.testing import FlaskClient
from openpyxl import load_workbook

from exam_server import create_app
from exam_server.applications.idcard import make_id_number
from exam_server.cli import cli
from item_bank.db import utcnow

BEIJING = dt.timezone(dt.timedelta(hours=8))
PASSWORD = "Walk-through-2026"
SECRET = "test-secret"  # conftest.app_config's, so the screens unseal what the commands sealed


class Shell:
    """`examctl ...` as typed at a centre: a fresh app per command, configured by the environment only."""

    def __init__(self, tmp_path: Path, url: str) -> None:
        self.env = {"DATABASE_URL": url, "SECRET_KEY": SECRET, "PASSWORD_HASH_PROFILE": "low",
                    "JOBS_BACKEND": "immediate", "RUN_BACKGROUND_TASKS": "0", "FLASK_RUN_FROM_CLI": "false",
                    "JOBS_DIR": str(tmp_path / "jobs"), "JOBS_UPLOAD_DIR": str(tmp_path / "uploads"),
                    "LOG_LEVEL": "WARNING"}

    def __call__(self, *args: str, ok: bool = True) -> str:
        result = CliRunner().invoke(cli, list(args), prog_name="examctl", env=self.env)
        if ok:
            assert result.exit_code == 0, f"examctl {' '.join(args)}\n{result.output}\n{result.exception!r}"
        else:
            assert result.exit_code != 0, f"examctl {' '.join(args)} should have been refused\n{result.output}"
        assert "Traceback" not in result.output
        return result.output


def _staff(client: FlaskClient, username: str) -> str:
    token = csrf_token_from(client.get("/staff/login").get_data(as_text=True))
    response = client.post("/staff/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return csrf_token_from(client.get("/account/password").get_data(as_text=True))


def _candidate(client: FlaskClient, number: str, password: str) -> str:
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"ticket": number, "password": password, "csrf_token": token})
    assert response.status_code == 302 and response.location.endswith("/exam"), response.get_data(as_text=True)
    return csrf_token_from(client.get("/exam").get_data(as_text=True))


def _post(client: FlaskClient, token: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = client.post(path, json=body, headers={"X-CSRFToken": token})
    return response.status_code, response.get_json()


def _trainees(template: Path, out: Path, unit: str, rows: list[tuple[str, int, dt.date]]) -> None:
    """Test data: the template `examctl application-template` wrote, with a unit's trainees typed in from row 2."""
    wb = load_workbook(template)
    ws = wb.worksheets[0]
    headers = [c.value for c in ws[1]]
    for r, (name, n, cert_date) in enumerate(rows, start=2):
        values = {"姓名": name, "身份证号": make_id_number("440106", dt.date(1985, 1, 1) + dt.timedelta(days=n), n),
                  "性别": None, "手机号": f"139{n:08d}", "工作单位": "广州某保安服务公司",
                  "保安员证编号": f"粤公保{n:08d}", "保安员证发证日期": cert_date.isoformat(), "申报等级": "初级保安员",
                  "培训单位": unit}
        for c, header in enumerate(headers, start=1):
            ws.cell(row=r, column=c, value=values.get(str(header)))
    wb.save(out)


def _tickets(text: str) -> dict[str, tuple[str, str]]:
    """name → (准考证号, 初始密码) as printed."""
    found = {}
    for block in text.split("准考证号")[1:]:
        number = re.match(r"\s+(\d+)", block)
        name = re.search(r"姓\s+名\s+(\S+)", block)
        password = re.search(r"初始密码\s+(\d{6})", block)
        assert number and name and password, block
        found[name.group(1)] = (number.group(1), password.group(1))
    return found


def test_a_centre_holds_a_level_5_sitting_from_an_empty_database(tmp_path: Path, small_bank_csv: Path) -> None:
    if not shutil.which("pdftotext"):
        need_service("pdftotext not found (apt-get install poppler-utils): the tickets are read as printed")
    now = utcnow().astimezone(BEIJING)
    # The sitting began 2 minutes ago and runs 90 minutes on today's date in Beijing.
    start = (now - dt.timedelta(minutes=2)).replace(second=0, microsecond=0)
    end = start + dt.timedelta(minutes=90)
    if end.date() != start.date() or start.date() != now.date():
        pytest.skip("a sitting starting now would cross midnight in Beijing (create-sitting takes one date)")
    today = now.date()
    url = f"sqlite:///{tmp_path / 'exam.db'}"
    examctl = Shell(tmp_path, url)

    # ---- the database and the organisations
    examctl("init-db")
    examctl("add-centre", "广州市职业技能鉴定中心", "--city", "广州", "--code", "C01")
    examctl("add-unit", "广州安保培训学校", "--city", "广州", "--licence", "粤公保培001", "--levels", "5,4", "--code", "U01")
    examctl("add-unit", "广州卫士保安培训中心", "--city", "广州", "--licence", "粤公保培002", "--levels", "5",
            "--code", "U02")
    examctl("create-site", "S01", "广州第一考点", "--city", "广州", "--centre", "C01", "--filing-number", "粤考备001")
    examctl("create-room", "S01", "R1", "第一考场", "--seats", "2")
    examctl("create-room", "S01", "R2", "第二考场", "--seats", "2")
    assert examctl("list-sites").splitlines()[0].split("\t")[0] == "S01"
    for username, role, organisation in [
        ("author1", "author", None), ("reviewer1", "reviewer", None), ("manager1", "bank_manager", None),
        ("manager2", "bank_manager", None), ("centre1", "centre_staff", "C01"), ("unit1", "pilot_unit", "U01"),
        ("unit2", "pilot_unit", "U02"), ("proc1", "proctor", "C01"), ("proc2", "proctor", "C01"),
    ]:
        examctl("create-user", username, "--role", role, "--password", PASSWORD,
                *(["--organisation", organisation] if organisation else []))
    # Each account names its role and organisation in words.
    accounts = {line.split("\t")[0]: line for line in examctl("users", "list").splitlines()}
    assert "试点单位工作人员" in accounts["unit1"] and "广州安保培训学校" in accounts["unit1"]
    examctl("assign-proctor", "proc1", "S01", "R1")
    examctl("assign-proctor", "proc2", "S01", "R2")

    # ---- the bank: imported by its author, approved as a batch by another person on the review screen
    imported = examctl("import-items", str(small_bank_csv), "--as", "author1")
    batch = re.search(r"导入批次 (\d+)", imported)
    assert batch, imported
    app = create_app(app_config(url))
    reviewer = app.test_client()
    token = _staff(reviewer, "reviewer1")
    response = reviewer.post(f"/bank/review/batches/{batch.group(1)}/approve", data={"csrf_token": token})
    assert response.status_code == 302
    assert "审核通过" in reviewer.get("/bank/review").get_data(as_text=True)

    # ---- a blueprint, two parallel forms approved by one manager and locked by the other
    blueprint = tmp_path / "level5.yaml"
    blueprint.write_text(
        "name: 初级保安员理论知识（小卷）\nlevel: 5\npart: theory\nduration_min: 90\npass_mark: 6\nsections:\n"
        "  - {type: judge, count: 3, points: 1, title: 判断题}\n"
        "  - {type: single, count: 5, points: 1, title: 单选题}\n"
        "  - {type: multiple, count: 2, points: 1, scoring_rule: all_or_nothing, title: 多选题}\n",
        encoding="utf-8")
    examctl("blueprint", "create", str(blueprint), "--actor", "manager1")
    assembled = examctl("assemble", "--blueprint", "初级保安员理论知识（小卷）", "--forms", "2", "--time-limit", "30",
                        "--actor", "manager1")
    forms = re.findall(r"^\s*(L5T-\S+?):", assembled, flags=re.M)
    assert len(forms) == 2, assembled
    for form in forms:
        examctl("form", "approve", form, "--actor", "manager1")
        refused = examctl("form", "lock", form, "--actor", "manager1", "--yes", ok=False)
        assert "两个人" in refused or "同一人" in refused
        examctl("form", "lock", form, "--actor", "manager2", "--yes")

    # ---- level 5 opened; two units import their trainees from the template
    examctl("open-applications", "5", "--from", (today - dt.timedelta(days=1)).isoformat(),
            "--until", today.isoformat(), "--exam-date", today.isoformat())
    template = tmp_path / "template.xlsx"
    examctl("application-template", str(template))
    years_ago = today.replace(year=today.year - 5)
    _trainees(template, tmp_path / "u1.xlsx", "广州安保培训学校", [
        ("陈一", 1, years_ago),
        ("林二", 2, today - dt.timedelta(days=365)),  # 保安员证 under 3 years old: exempt from theory
    ])
    _trainees(template, tmp_path / "u2.xlsx", "U02", [("黄三", 3, years_ago), ("周四", 4, years_ago)])
    # A unit's account imports only into its own unit.
    examctl("import-applications", str(tmp_path / "u1.xlsx"), "--unit", "U01", "--as", "unit2", ok=False)
    assert "1 人免考理论知识" in examctl("import-applications", str(tmp_path / "u1.xlsx"), "--unit", "U01",
                                         "--as", "unit1")
    examctl("import-applications", str(tmp_path / "u2.xlsx"), "--unit", "U02", "--as", "unit2")

    def ids(username: str, status: str) -> list[str]:
        listed = examctl("list-applications", "--as", username, "--status", status)
        return [line.split("\t")[0] for line in listed.splitlines() if line.strip()]

    unit1_ids, unit2_ids = ids("unit1", "submitted"), ids("unit2", "submitted")
    assert len(unit1_ids) == 2 and len(unit2_ids) == 2 and not set(unit1_ids) & set(unit2_ids)

    # ---- 初审 by each unit (never another unit's), 复审 by the centre (never by a unit)
    refused = examctl("review-applications", *unit1_ids, "--as", "unit2", "--stage", "unit", "--approve", ok=False)
    assert "不属于本机构" in refused and ids("unit1", "unit_approved") == []
    examctl("review-applications", *unit1_ids, "--as", "unit1", "--stage", "unit", "--approve")
    examctl("review-applications", *unit2_ids, "--as", "unit2", "--stage", "unit", "--approve")
    assert "复审" in examctl("review-applications", *unit1_ids, "--as", "unit1", "--stage", "centre", "--approve",
                             ok=False)
    examctl("review-applications", *unit1_ids, *unit2_ids, "--as", "centre1", "--stage", "centre", "--approve")
    assert len(ids("centre1", "centre_approved")) == 4

    # ---- the sitting over two rooms; the approved scheduled (the exempt listed, not seated)
    sitting = examctl("create-sitting", "--code", "L5T-WALK", "--name", "五级理论知识 第一场", "--level", "5",
                      "--part", "theory", "--form", ",".join(forms), "--site", "S01", "--rooms", "R1,R2",
                      "--date", start.date().isoformat(), "--start", f"{start:%H:%M}", "--end", f"{end:%H:%M}",
                      "--late-entry", "1").strip()
    assert sitting == "L5T-WALK"
    listed = examctl("list-sittings").splitlines()
    assert listed[0].startswith("L5T-WALK\t") and "理论知识" in listed[0] and "S01:R1,S01:R2" in listed[0]
    centre = app.test_client()
    _staff(centre, "centre1")
    for page in ("/centre/sittings", "/centre/sittings/1"):
        html = centre.get(page).get_data(as_text=True)
        assert "L5T-WALK" in html and "理论知识" in html and ">theory<" not in html and " theory<" not in html
    scheduled = examctl("schedule-sitting", "L5T-WALK", "--unit", "U01", "--unit", "U02")
    assert "3 名考生" in scheduled and "林二" in scheduled and "免考" in scheduled

    # ---- the tickets, printed and read
    pdf = tmp_path / "tickets.pdf"
    examctl("print-tickets", "L5T-WALK", "-o", str(pdf))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    printed = _tickets(text)
    assert sorted(printed) == ["周四", "陈一", "黄三"]
    assert all(number.startswith(f"{start:%y%m%d}") for number, _ in printed.values())
    assert text.count(f"本场考试统一于 {end:%H:%M} 结束") == 3
    cutoff = start + dt.timedelta(minutes=1)
    assert text.count(f"开考 1 分钟后（{cutoff:%H:%M} 后）不得开始考试，经监考员准许者除外；开考 30 分钟内不得交卷") == 3
    assert "第一考场" in text and "第二考场" in text

    # ---- the exam, under the printed rules. Seats fill R1 then R2 in the order scheduled.
    seat_of = {name: ("R1" if "第一考场" in block else "R2")
               for name in printed for block in text.split("准考证号")[1:] if name in block}
    in_r1 = sorted(n for n, r in seat_of.items() if r == "R1")
    in_r2 = [n for n, r in seat_of.items() if r == "R2"]
    assert len(in_r1) == 2 and len(in_r2) == 1
    proc1, proc2 = app.test_client(), app.test_client()
    proc1_token, proc2_token = _staff(proc1, "proc1"), _staff(proc2, "proc2")

    first, late = app.test_client(), app.test_client()
    number, password = printed[in_r1[0]]
    first_token = _candidate(first, number, password)
    attempt = first.get("/api/attempt").get_json()
    attempt_id = attempt["attempt_id"]
    join = f"/api/attempts/{attempt_id}/join"
    status, ack = _post(first, first_token, join, {"start": True, "workstation": "ws-1"})
    assert status == 409 and ack["error"] == "not_checked_in"
    # Only the room's proctor checks the candidate in.
    status, ack = _post(proc2, proc2_token, f"/proctor/attempts/{attempt_id}/check_in", {})
    assert status == 403 and ack["error"] == "not_your_room"
    status, ack = _post(proc1, proc1_token, f"/proctor/attempts/{attempt_id}/check_in", {})
    assert status == 200 and ack["ok"], ack
    # Past the cut-off the ticket printed: refused until the proctor admits the candidate, with a reason.
    status, ack = _post(first, first_token, join, {"start": True, "workstation": "ws-1"})
    assert status == 409 and ack["error"] == "late_entry_closed", ack
    status, ack = _post(proc1, proc1_token, f"/proctor/attempts/{attempt_id}/admit_late", {"reason": ""})
    assert not ack["ok"]
    status, ack = _post(proc1, proc1_token, f"/proctor/attempts/{attempt_id}/admit_late",
                        {"reason": "公交延误，持乘车凭证"})
    assert status == 200 and ack["ok"], ack
    status, ack = _post(first, first_token, join, {"start": True, "workstation": "ws-1"})
    assert status == 200 and ack["status"] == "in_progress", ack
    state = first.get("/api/attempt").get_json()
    # The common end and the minimum time are the sitting's, as printed.
    assert dt.datetime.fromisoformat(state["ends_at"]) == end.astimezone(dt.UTC)
    assert dt.datetime.fromisoformat(state["submit_opens_at"]) == (start + dt.timedelta(minutes=30)).astimezone(dt.UTC)
    item = state["items"][0]
    value = item["options"][0]["id"] if item["type"] != "multiple" else [item["options"][0]["id"]]
    status, ack = _post(first, first_token, f"/api/attempts/{attempt_id}/save",
                        {"item_id": item["item_id"], "value": value, "seq": 1, "key": "a1", "workstation": "ws-1"})
    assert status == 200 and ack["ok"], ack
    status, ack = _post(first, first_token, f"/api/attempts/{attempt_id}/submit", {"key": "s1", "workstation": "ws-1"})
    assert not ack["ok"] and ack["error"] == "submit_too_early" and "30 分钟内不得交卷" in ack["message"]

    # A second candidate of the room, checked in but not admitted late, is refused 开始考试 in words.
    number, password = printed[in_r1[1]]
    late_token = _candidate(late, number, password)
    late_id = late.get("/api/attempt").get_json()["attempt_id"]
    assert _post(proc1, proc1_token, f"/proctor/attempts/{late_id}/check_in", {})[0] == 200
    status, ack = _post(late, late_token, f"/api/attempts/{late_id}/join", {"start": True, "workstation": "ws-2"})
    assert status == 409 and ack["error"] == "late_entry_closed" and "不得入场" in ack["message"]

    # The other room's candidate is the other proctor's.
    other = app.test_client()
    number, password = printed[in_r2[0]]
    _candidate(other, number, password)
    other_id = other.get("/api/attempt").get_json()["attempt_id"]
    assert _post(proc1, proc1_token, f"/proctor/attempts/{other_id}/check_in", {})[0] == 403
    assert _post(proc2, proc2_token, f"/proctor/attempts/{other_id}/check_in", {})[0] == 200

