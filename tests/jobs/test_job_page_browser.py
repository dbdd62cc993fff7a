"""The job page in Chromium: it follows a job run by a real worker until the download link appears."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_support import chromium_browser, live_server
from jobs_support import (
    PASSWORD,
    Worker,
    add_staff,
    build_app,
    examctl_env,
    file_database,
    fresh_job,
    wait_until,
)

from exam_server.extensions import db
from exam_server.jobs import submit_job
from exam_server.jobs.models import RUNNING

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_job_page_shows_progress_then_the_download(tmp_path: Path, jobs_config: dict[str, str]) -> None:
    app = build_app(file_database(tmp_path), tmp_path, JOBS_BACKEND="sqlite", **jobs_config)
    release = tmp_path / "release"
    with app.app_context():
        add_staff("alice", "author")
        jobs_env = {k: v for k, v in examctl_env(app).items() if k.startswith("JOBS_")}
        worker = Worker(app, tmp_path / "worker.log")
        try:
            with live_server(app.config["DATABASE_URL"], tmp_path / "instance", **jobs_env) as server, \
                    chromium_browser() as browser:
                job = submit_job("test.hold", {"release": str(release)}, "user:alice")
                wait_until(lambda: fresh_job(job.id).status == RUNNING, what="the job to start")

                page = browser.new_page(accept_downloads=True)
                page.goto(f"{server.url}/staff/login?next=/jobs/{job.id}")
                page.fill("#username", "alice")
                page.fill("#password", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_selector('[data-field="status_label"]:has-text("进行中")')
                assert page.is_hidden('[data-field="download"]')

                release.touch()
                page.wait_for_selector('[data-field="download"]:not([hidden])', timeout=30_000)
                assert page.inner_text('[data-field="status_label"]') == "已完成"
                assert page.inner_text('[data-field="percent"]') == "100%"
                assert page.is_hidden('[data-field="cancel_form"]')
                with page.expect_download() as download:
                    page.click("a.download")
                assert download.value.suggested_filename == "放行.txt"
                assert Path(download.value.path()).read_text(encoding="utf-8") == "已放行"
        except BaseException:
            print(worker.output())
            raise
        finally:
            worker.stop()
        db.dispose()
