"""Who may read a job: its submitter and staff whose role covers its kind; everyone else finds nothing there."""

from __future__ import annotations

from urllib.parse import quote

from conftest import csrf_token_from
from flask import Flask
from jobs_support import add_staff, staff_client

from exam_server.jobs import submit_job
from exam_server.jobs.models import DONE, FAILED


def test_the_submitter_follows_the_job_and_downloads_its_file(jobs_app: Flask) -> None:
    add_staff("alice", "author")
    job = submit_job("test.report", {"rows": 2}, "user:alice")
    alice = staff_client(jobs_app, "alice")

    page = alice.get(f"/jobs/{job.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "测试：生成报告" in html and "已完成" in html and "<progress" in html
    assert f'data-status-url="/jobs/{job.id}.json"' in html
    assert "/assets/jobs/progress.js" in html

    status = alice.get(f"/jobs/{job.id}.json").get_json()
    assert status["status"] == DONE and status["status_label"] == "已完成" and status["finished"]
    assert status["progress"] == 1.0 and status["file_url"] == f"/jobs/{job.id}/file"
    assert alice.get("/assets/jobs/progress.js").status_code == 200

    download = alice.get(status["file_url"])
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert quote("统计报告.csv") in download.headers["Content-Disposition"]
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.get_data().decode("utf-8") == "行,值\n0,0\n1,1\n"

    assert f'href="/jobs/{job.id}"' in alice.get("/jobs/").get_data(as_text=True)


def test_someone_else_cannot_read_or_download_or_cancel_another_users_job(jobs_app: Flask) -> None:
    add_staff("alice", "author")
    add_staff("bob", "author", "reviewer", "proctor")  # staff, but no role that covers the kind
    job = submit_job("test.report", {}, "user:alice")
    bob = staff_client(jobs_app, "bob")

    for url in (f"/jobs/{job.id}", f"/jobs/{job.id}.json", f"/jobs/{job.id}/file"):
        response = bob.get(url)
        assert response.status_code == 404, url
        assert "统计报告" not in response.get_data(as_text=True)
    listing = bob.get("/jobs/").get_data(as_text=True)
    assert f'href="/jobs/{job.id}"' not in listing
    token = csrf_token_from(listing)
    assert bob.post(f"/jobs/{job.id}/cancel", data={"csrf_token": token}).status_code == 404

    anonymous = jobs_app.test_client()
    for url in (f"/jobs/{job.id}", f"/jobs/{job.id}.json", f"/jobs/{job.id}/file"):
        response = anonymous.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


def test_staff_whose_role_covers_the_kind_and_admins_may_read_it(jobs_app: Flask) -> None:
    add_staff("alice", "author")
    add_staff("carol", "bank_manager")
    add_staff("root", "admin")
    job = submit_job("test.report", {}, "cli:ops")
    for name in ("carol", "root"):
        client = staff_client(jobs_app, name)
        assert client.get(f"/jobs/{job.id}.json").get_json()["status"] == DONE
        assert client.get(f"/jobs/{job.id}/file").status_code == 200
        assert f'href="/jobs/{job.id}"' in client.get("/jobs/").get_data(as_text=True)
    # The CLI's job is not alice's, and her role does not cover the kind.
    assert staff_client(jobs_app, "alice").get(f"/jobs/{job.id}").status_code == 404


def test_a_failed_job_shows_its_message_and_offers_no_file(jobs_app: Flask) -> None:
    add_staff("alice", "author")
    job = submit_job("test.refuse", {"message": "第 3 行：题型无法识别"}, "user:alice")
    alice = staff_client(jobs_app, "alice")

    status = alice.get(f"/jobs/{job.id}.json").get_json()
    assert status["status"] == FAILED and status["error"] == "第 3 行：题型无法识别" and status["file_url"] is None
    assert "第 3 行：题型无法识别" in alice.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert alice.get(f"/jobs/{job.id}/file").status_code == 404

    # A job that has ended cannot be cancelled; the refusal is in Chinese.
    token = csrf_token_from(alice.get(f"/jobs/{job.id}").get_data(as_text=True))
    refused = alice.post(f"/jobs/{job.id}/cancel", data={"csrf_token": token})
    assert refused.status_code == 409
    assert "任务状态为「失败」，不能执行「取消」" in refused.get_data(as_text=True)
