"""Import and export through /bank/exchange run as jobs (issue 13, findings 1, 2, 5, 9): the upload is stashed and
deleted after its job, a dry run's report offers 确认导入 of the very file checked, an export with images is one
bounded zip in its job folder, an oversized upload is refused in Chinese, imports wait for a second person."""

from __future__ import annotations

import base64
import datetime as dt
import io
import zipfile
from pathlib import Path

import pytest
from conftest import Sitting, csrf_token_from
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.core.security import hash_password
from exam_server.jobs import Job
from item_bank.models import APPROVED, IN_REVIEW, Item, ItemVersion

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
FIRE = {"type": "single", "stem": "发现火情应当首先（ ）。", "options": ["逃离", "报警", "围观"], "key": "B",
        "levels": [5], "points": 1}  # fmt: skip
PASSWORD = "pw-bank"
ROLES = {
    "author": ["author"],
    "author2": ["author"],
    "reviewer": ["reviewer"],
    "manager": ["bank_manager"],
    "chief": ["bank_manager", "reviewer"],
    "proctor": ["proctor"],
    "grader": ["grader"],
}
GOOD = (
    "id,type,stem,options,answer,knowledge_area,source\n"
    'J-1,single,发现火情应当首先（ ）。,"[""逃离"", ""报警"", ""围观""]",B,消防安全,t\n'
    'J-2,single,可疑车辆应当（ ）。,"[""放行"", ""记录车牌并报告""]",B,巡逻,t\n'
)


@pytest.fixture
def staff(session: Session) -> dict[str, int]:
    ids = {}
    for username, roles in ROLES.items():
        user = User(username=username, display_name=f"{username} 老师", password_hash=hash_password(PASSWORD, "low"),
                    roles=roles)  # fmt: skip
        session.add(user)
        session.flush()
        ids[username] = user.id
    session.commit()
    return ids


def login(client: FlaskClient, username: str, password: str = PASSWORD) -> str:
    """Log `username` in through the form; returns the CSRF token of the session."""
    with client.session_transaction() as s:
        s.clear()
    token = csrf_token_from(client.get("/staff/login").get_data(as_text=True))
    answer = client.post("/staff/login", data={"username": username, "password": password, "csrf_token": token})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return csrf_token_from(client.get("/jobs/").get_data(as_text=True))


def api(client: FlaskClient, token: str, method: str, url: str, body: object) -> tuple[int, dict]:
    response = client.open(url, method=method, json=body, headers={"X-CSRFToken": token})
    return response.status_code, response.get_json()


def folders(app: Flask) -> tuple[Path, Path]:
    return Path(app.config["JOBS_DIR"]), Path(app.config["JOBS_UPLOAD_DIR"])


def job_of(session: Session, response: object) -> Job:
    location = response.headers["Location"]  # type: ignore[attr-defined]
    assert response.status_code == 302 and "/jobs/" in location, response  # type: ignore[attr-defined]
    job = session.get(Job, int(location.rstrip("/").split("/")[-1]), populate_existing=True)
    assert job is not None
    return job


def upload(client: FlaskClient, token: str, data: str | bytes, name: str, status: str = IN_REVIEW) -> object:
    body = data.encode("utf-8") if isinstance(data, str) else data
    return client.post("/bank/exchange/import", data={"csrf_token": token, "status": status,
                                                      "file": (io.BytesIO(body), name)},
                       content_type="multipart/form-data")  # fmt: skip


def count(session: Session, model: type) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_dry_run_is_a_job_whose_report_confirms_the_same_file(
    app: Flask, client: FlaskClient, session: Session, staff: dict[str, int]
) -> None:
    jobs_dir, uploads = folders(app)
    token = login(client, "manager")
    dry = job_of(session, upload(client, token, GOOD, "题库.csv"))
    assert (dry.kind, dry.status, dry.params["dry_run"]) == ("bank.import", "done", True)
    assert count(session, Item) == 0  # a dry run stores nothing
    assert list(uploads.iterdir()) == []  # the stashed upload is gone once its job has run
    page = client.get(f"/jobs/{dry.id}").get_data(as_text=True)
    assert "预检通过（尚未保存）：题库.csv，读取 2 题：新建 2 题" in page and f"/bank/exchange/imports/{dry.id}" in page
    report = client.get(f"/bank/exchange/imports/{dry.id}").get_data(as_text=True)
    assert "确认导入 2 题" in report and "待审核" in report

    # Only the person who uploaded it confirms it.
    other = app.test_client()
    other_token = login(other, "author")
    assert other.post(f"/bank/exchange/imports/{dry.id}/confirm", data={"csrf_token": other_token}).status_code == 404
    assert count(session, Item) == 0

    confirmed = job_of(session, client.post(f"/bank/exchange/imports/{dry.id}/confirm", data={"csrf_token": token}))
    assert (confirmed.status, confirmed.params["dry_run"], confirmed.params["name"]) == ("done", False, "题库.csv")
    assert {(v.status, v.author_id) for v in session.scalars(select(ItemVersion))} == {(IN_REVIEW, staff["manager"])}
    assert "导入完成" in client.get(f"/jobs/{confirmed.id}").get_data(as_text=True)
    # The file checked is the file imported, and then it is gone: from the uploads and from the dry run's folder.
    assert list(uploads.iterdir()) == [] and not list((jobs_dir / str(dry.id)).iterdir())
    again = client.post(f"/bank/exchange/imports/{dry.id}/confirm", data={"csrf_token": token})
    assert again.status_code == 409 and "已导入或已过期" in again.get_data(as_text=True)
    assert count(session, ItemVersion) == 2


def test_a_bad_file_reports_every_problem_and_stores_nothing(
    app: Flask, client: FlaskClient, session: Session, staff: dict[str, int]
) -> None:
    _, uploads = folders(app)
    token = login(client, "author")
    bad = "题型,题干,答案\n单选题,题,Z\n判断题,,对\n"
    dry = job_of(session, upload(client, token, bad.encode("gbk"), "坏文件.csv"))
    assert dry.status == "done" and dry.result is not None and dry.result["ok"] is False
    page = client.get(f"/jobs/{dry.id}").get_data(as_text=True)
    assert "预检未通过：坏文件.csv" in page and "坏文件.csv:2:" in page
    report = client.get(f"/bank/exchange/imports/{dry.id}").get_data(as_text=True)
    assert "坏文件.csv:2:" in report and "坏文件.csv:3:" in report and "确认导入" not in report
    assert client.post(f"/bank/exchange/imports/{dry.id}/confirm", data={"csrf_token": token}).status_code == 409
    assert count(session, Item) == 0 and list(uploads.iterdir()) == []


def test_an_import_is_never_approved_on_the_screen(
    app: Flask, client: FlaskClient, session: Session, staff: dict[str, int]
) -> None:
    _, uploads = folders(app)
    token = login(client, "manager")
    refused = upload(client, token, GOOD, "题库.csv", status=APPROVED)
    assert refused.status_code == 400 and "另一位审题人" in refused.get_data(as_text=True)  # type: ignore[attr-defined]
    assert count(session, Job) == 0 and not (uploads.exists() and list(uploads.iterdir()))
    assert 'value="approved"' not in client.get("/bank/exchange").get_data(as_text=True)


def test_an_oversized_upload_is_refused_in_chinese(
    app: Flask, client: FlaskClient, session: Session, staff: dict[str, int]
) -> None:
    _, uploads = folders(app)
    token = login(client, "manager")
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    answer = upload(client, token, b"x" * (200 * 1024), "big.csv")
    html = answer.get_data(as_text=True)  # type: ignore[attr-defined]
    assert answer.status_code == 413 and "上传的文件超过了允许的大小（最大 0.0625 MB）" in html  # type: ignore[attr-defined]
    assert count(session, Job) == 0 and not (uploads.exists() and list(uploads.iterdir()))


def test_the_upload_cap_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from exam_server.core.config import load_config

    assert load_config(tmp_path, {"SECRET_KEY": "x"})["MAX_CONTENT_LENGTH"] == 64 * 1024 * 1024
    monkeypatch.setenv("MAX_UPLOAD_MB", "8")
    assert load_config(tmp_path, {"SECRET_KEY": "x"})["MAX_CONTENT_LENGTH"] == 8 * 1024 * 1024


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_an_export_with_images_is_one_bounded_zip_in_its_job_folder(
    app: Flask, client: FlaskClient, session: Session, staff: dict[str, int], fmt: str
) -> None:
    jobs_dir, _ = folders(app)
    token = login(client, "author")
    ref = client.post("/bank/media", data={"file": (io.BytesIO(PNG), "scene.png")},
                      headers={"X-CSRFToken": token}).get_json()  # fmt: skip
    assert api(client, token, "POST", "/bank/api/items", dict(FIRE, media=[ref]))[0] == 201
    token = login(client, "manager")
    job = job_of(session, client.post("/bank/exchange/export", data={"csrf_token": token, "format": fmt}))
    assert job.status == "done" and job.result_file == f"题库导出_{fmt}.zip"
    # Only the archive is left in the job's folder: the table and its image folder went into it, nothing else.
    folder = jobs_dir / str(job.id)
    assert sorted(p.name for p in folder.rglob("*")) == [job.result_file]
    archive = folder / job.result_file
    assert archive.stat().st_size < 100_000
    members = zipfile.ZipFile(archive).namelist()
    assert members[0] == f"题库导出.{fmt}" and len(members) == 2, members
    assert members[1].startswith("题库导出_图片/") and members[1].endswith(".png"), members
    download = client.get(f"/jobs/{job.id}/file")
    assert download.status_code == 200 and download.data == archive.read_bytes()
    assert "已导出 1 道试题、0 个题组、1 张图片" in client.get(f"/jobs/{job.id}").get_data(as_text=True)
    # Without the images it is the table alone.
    job = job_of(session, client.post("/bank/exchange/export", data={"csrf_token": token, "format": fmt,
                                                                      "include_images": "0"}))  # fmt: skip
    assert job.result_file == f"题库导出.{fmt}"
    assert sorted(p.name for p in (jobs_dir / str(job.id)).rglob("*")) == [job.result_file]
    # The table names the author as people know them (the bank keeps ids only).
    table = jobs_dir / str(job.id) / job.result_file
    if fmt == "csv":
        assert "author 老师" in table.read_text(encoding="utf-8-sig")
    else:
        ws = load_workbook(table)["试题"]
        header = [c.value for c in ws[1]]
        assert ws.cell(row=2, column=header.index("命题人") + 1).value == "author 老师"


def test_a_second_person_approves_the_import_batch_on_the_review_queue(
    app: Flask, client: FlaskClient, session: Session, staff: dict[str, int]
) -> None:
    token = login(client, "chief")  # a bank manager who is also a reviewer imports
    dry = job_of(session, upload(client, token, GOOD, "题库.csv"))
    job = job_of(session, client.post(f"/bank/exchange/imports/{dry.id}/confirm", data={"csrf_token": token}))
    batch = job.result["batch_id"]  # type: ignore[index]
    queue = client.get("/bank/review").get_data(as_text=True)
    assert "待审核的导入批次" in queue and "自己导入的批次" in queue and f"/review/batches/{batch}/approve" not in queue
    # The importer approving their own batch is refused, item by item as a whole.
    answer = client.post(f"/bank/review/batches/{batch}/approve", data={"csrf_token": token}, follow_redirects=True)
    assert "不能审核通过自己导入的批次" in answer.get_data(as_text=True)
    ids = [str(v) for v in session.scalars(select(ItemVersion.id))]
    client.post("/bank/review/bulk", data={"csrf_token": token, "action": "approve", "version_id": ids})
    assert {v.status for v in session.scalars(select(ItemVersion).execution_options(populate_existing=True))} == {
        IN_REVIEW
    }
    # A bank manager without the reviewer role cannot approve either; a second person who reviews can.
    token = login(client, "manager")
    answer = client.post(f"/bank/review/batches/{batch}/approve", data={"csrf_token": token}, follow_redirects=True)
    assert "批量审核通过需要审题人角色" in answer.get_data(as_text=True)
    token = login(client, "reviewer")
    assert f"/review/batches/{batch}/approve" in client.get("/bank/review").get_data(as_text=True)
    answer = client.post(f"/bank/review/batches/{batch}/approve", data={"csrf_token": token}, follow_redirects=True)
    assert f"导入批次 {batch} 审核通过：完成 2 题" in answer.get_data(as_text=True)
    versions = session.scalars(select(ItemVersion).execution_options(populate_existing=True)).all()
    assert {(v.status, v.author_id, v.reviewer_id) for v in versions} == {
        (APPROVED, staff["chief"], staff["reviewer"])
    }


@pytest.mark.parametrize("username", ["proctor", "grader", None])
def test_other_roles_are_refused_on_the_exchange_and_batch_routes(
    app: Flask, client: FlaskClient, session: Session, staff: dict[str, int], username: str | None
) -> None:
    owner = app.test_client()
    token = login(owner, "manager")
    dry = job_of(session, upload(owner, token, GOOD, "题库.csv"))
    if username is None:
        token = csrf_token_from(client.get("/staff/login").get_data(as_text=True))
    else:
        token = login(client, username)
    posts = {
        "/bank/exchange/import": {"file": (io.BytesIO(GOOD.encode()), "a.csv")},
        f"/bank/exchange/imports/{dry.id}/confirm": {},
        "/bank/exchange/export": {"format": "json"},
        "/bank/review/batches/1/approve": {},
    }
    for url, data in posts.items():
        answer = client.post(url, data={"csrf_token": token, **data}, content_type="multipart/form-data")
        assert answer.status_code in (302, 401, 403), (url, answer.status_code)
        if answer.status_code == 302:
            assert "/login" in answer.headers["Location"], url
    for url in ("/bank/exchange", f"/bank/exchange/imports/{dry.id}"):
        assert client.get(url).status_code in (302, 401, 403), url
    assert count(session, Job) == 1 and count(session, Item) == 0


def test_a_candidate_is_refused_on_the_exchange_and_batch_routes(
    app: Flask, client: FlaskClient, session: Session, sitting: Sitting
) -> None:
    token = sitting.login(client, 0)
    for url, data in {"/bank/exchange/import": {"file": (io.BytesIO(GOOD.encode()), "a.csv")},
                      "/bank/exchange/imports/1/confirm": {}, "/bank/exchange/export": {"format": "json"},
                      "/bank/review/batches/1/approve": {}}.items():  # fmt: skip
        answer = client.post(url, data={"csrf_token": token, **data}, content_type="multipart/form-data")
        assert answer.status_code == 403, (url, answer.status_code)
    for url in ("/bank/exchange", "/bank/exchange/imports/1"):
        assert client.get(url).status_code == 403, url
    assert count(session, Job) == 0


def test_an_abandoned_dry_run_file_is_deleted_by_the_next_import(
    app: Flask, client: FlaskClient, session: Session, staff: dict[str, int]
) -> None:
    jobs_dir, _ = folders(app)
    token = login(client, "manager")
    first = job_of(session, upload(client, token, GOOD, "题库.csv"))
    assert [p.name for p in (jobs_dir / str(first.id)).iterdir()] == ["pending-upload.csv"]
    first.finished_at = first.finished_at - dt.timedelta(hours=25)  # type: ignore[operator]
    session.commit()
    job_of(session, upload(client, token, GOOD, "题库2.csv"))
    assert list((jobs_dir / str(first.id)).iterdir()) == []
    answer = client.post(f"/bank/exchange/imports/{first.id}/confirm", data={"csrf_token": token})
    assert answer.status_code == 409 and count(session, Item) == 0


def test_examctl_import_items_waits_for_review_under_a_named_importer(
    app: Flask, session: Session, staff: dict[str, int], tmp_path: Path
) -> None:
    path = tmp_path / "bank.csv"
    path.write_text(GOOD, encoding="utf-8")
    runner = app.test_cli_runner()
    anonymous = runner.invoke(args=["import-items", str(path)])
    assert anonymous.exit_code != 0 and "--as" in anonymous.output
    approved = runner.invoke(args=["import-items", str(path), "--as", "manager", "--status", "approved"])
    assert approved.exit_code != 0 and count(session, Item) == 0
    dry = runner.invoke(args=["import-items", str(path), "--dry-run"])
    assert dry.exit_code == 0 and "预检" in dry.output and count(session, Item) == 0
    done = runner.invoke(args=["import-items", str(path), "--as", "manager"])
    assert done.exit_code == 0 and "待审核" in done.output, done.output
    versions = session.scalars(select(ItemVersion).execution_options(populate_existing=True)).all()
    assert {(v.status, v.author_id) for v in versions} == {(IN_REVIEW, staff["manager"])}
    proctor = runner.invoke(args=["import-items", str(path), "--as", "proctor"])
    assert proctor.exit_code != 0 and "命题人或题库管理员" in proctor.output


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_examctl_export_items_with_images_writes_one_zip_like_the_web(
    app: Flask, client: FlaskClient, session: Session, staff: dict[str, int], tmp_path: Path
) -> None:
    token = login(client, "author")
    ref = client.post("/bank/media", data={"file": (io.BytesIO(PNG), "scene.png")},
                      headers={"X-CSRFToken": token}).get_json()  # fmt: skip
    assert api(client, token, "POST", "/bank/api/items", dict(FIRE, media=[ref]))[0] == 201
    out = tmp_path / "out"
    out.mkdir()
    runner = app.test_cli_runner()
    done = runner.invoke(args=["export-items", str(out / "bank.xlsx")])
    assert done.exit_code == 0, done.output
    # One file beside the path, nothing else: the table and its image folder are inside it.
    assert sorted(p.name for p in out.rglob("*")) == ["bank_xlsx.zip"], list(out.rglob("*"))
    members = zipfile.ZipFile(out / "bank_xlsx.zip").namelist()
    assert members[0] == "bank.xlsx" and len(members) == 2 and members[1].startswith("bank_图片/"), members
    assert "bank_xlsx.zip" in done.output
    # Without the images, or in a format that carries them itself, it is the named file alone.
    plain = runner.invoke(args=["export-items", str(out / "plain.csv"), "--no-images"])
    assert plain.exit_code == 0, plain.output
    qti = runner.invoke(args=["export-items", str(out / "qti.zip")])
    assert qti.exit_code == 0, qti.output
    assert sorted(p.name for p in out.rglob("*")) == ["bank_xlsx.zip", "plain.csv", "qti.zip"]
    bad = runner.invoke(args=["export-items", str(out / "bank.txt")])
    assert bad.exit_code != 0 and "不支持的导出格式" in bad.output
