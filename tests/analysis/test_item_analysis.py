"""Item analysis in the product: a simulated sitting with a miskeyed and a too-easy item, its pages and
plots, the CLI, sending flagged items to review, accepting estimates, and the Excel export."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import SMALL_PAPER, csrf_token_from
from flask import Flask
from flask.testing import FlaskClient
from job_routes import job_file, job_of, refused_job
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.analysis.compute import analyse_session
from exam_server.analysis.operations import estimate_eligibility
from exam_server.analysis.settings import AnalysisSettings
from exam_server.analysis.simulate import PastSession, add_past_session, create_past_sitting, simulate_sitting
from exam_server.delivery.models import Attempt
from exam_server.jobs.models import Job
from item_bank.audit import AuditEvent
from item_bank.models import APPROVED, IN_REVIEW, Form, FormItem, ItemVersion, ReviewComment

N_PAST = 220
SHEETS = {"说明", "试卷统计", "试题统计", "干扰项分析", "标记试题", "分数分布", "IRT参数"}


@pytest.fixture
def past(app: Flask, session: Session, small_bank_csv: Path) -> PastSession:
    """A finished sitting of the 10-item paper, 220 simulated candidates, one item miskeyed, one too easy."""
    from exam_server.demo import seed_exam

    seeded = seed_exam(
        session,
        bank_path=small_bank_csv,
        sections=SMALL_PAPER,
        n_candidates=1,
        hash_profile="low",
        staff_password="pw-staff",
    )
    forms = [session.get(Form, i) for i in seeded.form_ids]
    return add_past_session(session, forms, n_candidates=N_PAST)


def login(client: FlaskClient, username: str) -> str:
    token = csrf_token_from(client.get("/staff/login").get_data(as_text=True))
    response = client.post(
        "/staff/login", data={"username": username, "password": "pw-staff", "csrf_token": token}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return token


def external_id(session: Session, version_id: int) -> str:
    return session.get(ItemVersion, version_id).item.external_id


def flag_codes(analysis: Any, version_id: int) -> set[str]:
    return set(analysis.flags[analysis.flags["version_id"] == version_id]["code"])


def test_simulated_sitting_is_submitted_and_scored(session: Session, past: PastSession) -> None:
    attempts = session.scalars(select(Attempt).where(Attempt.session_id == past.exam_session.id)).all()
    assert len(attempts) == N_PAST
    assert {a.status for a in attempts} <= {"submitted", "scored"}
    assert all(a.submitted_at is not None and a.answered_count > 0 for a in attempts)
    assert past.report.responses > N_PAST * 9


def test_flags_the_miskeyed_and_the_too_easy_item(session: Session, past: PastSession) -> None:
    analysis = analyse_session(session, past.exam_session, AnalysisSettings())
    (miskeyed,) = past.miskeyed
    (easy,) = past.too_easy
    assert "miskey" in flag_codes(analysis, miskeyed)
    assert "p_low" in flag_codes(analysis, miskeyed)
    assert "p_high" in flag_codes(analysis, easy)
    reasons = " ".join(analysis.flags[analysis.flags["version_id"] == miskeyed]["reason"])
    assert f"干扰项 {past.miskeyed[miskeyed]}" in reasons and "疑似答案错误" in reasons

    (form,) = analysis.forms
    stats = form.ctt.form
    assert stats["n_persons"] == N_PAST and stats["n_items"] == 10
    assert 0 < stats["alpha"] < 1 and stats["sem"] > 0
    assert form.ctt.histogram["count"].sum() == N_PAST
    assert analysis.irt.fitted and analysis.irt.converged
    # The miskeyed item discriminates backwards: the better candidates get it "wrong".
    assert form.ctt.items.loc[miskeyed, "r_corrected"] < 0
    # Its few right answers come from weak candidates: either a negative slope, or too few to estimate.
    assert miskeyed in analysis.irt.excluded or analysis.irt.params.loc[miskeyed, "a"] < 0


def test_estimates_recover_the_generating_parameters(session: Session, past: PastSession) -> None:
    """A second sitting of the same form drawn from a 2PL with known parameters: the pipeline from stored
    responses to IRT estimates gives them back."""
    form = past.exam_session.forms[0].form
    exam_session = create_past_sitting(session, [form], n_candidates=600, code="SIM-2PL", seed=4)
    versions = [fi.item_version_id for fi in form.items]
    rng = np.random.default_rng(3)
    truth = {v: (float(rng.uniform(0.8, 2.0)), float(rng.uniform(-1.5, 1.0)), 0.0) for v in versions}
    simulate_sitting(session, exam_session, seed=5, params=truth, omit_rate=0.0, score=False)
    analysis = analyse_session(session, exam_session, AnalysisSettings(model="2pl"))
    est = analysis.irt.params.loc[versions]
    true_a = np.array([truth[v][0] for v in versions])
    true_b = np.array([truth[v][1] for v in versions])
    assert analysis.irt.converged
    assert np.corrcoef(est["b"], true_b)[0, 1] > 0.95
    assert np.abs(est["b"].to_numpy() - true_b).mean() < 0.25
    assert np.corrcoef(est["a"], true_a)[0, 1] > 0.6
    assert np.abs(est["a"].to_numpy() - true_a).mean() < 0.35


def test_pages_show_flags_with_plots(client: FlaskClient, session: Session, past: PastSession) -> None:
    login(client, "manager")
    sid = past.exam_session.id
    index = client.get("/analysis/").get_data(as_text=True)
    assert past.exam_session.code in index and f"/analysis/sessions/{sid}" in index

    response = client.get(f"/analysis/sessions/{sid}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    (miskeyed,) = past.miskeyed
    (easy,) = past.too_easy
    for vid in (miskeyed, easy):
        assert f'data-version="{vid}"' in html
        assert external_id(session, vid) in html
    assert "疑似答案错误" in html and "过易" in html and "信度 α (KR-20)" in html
    assert 'id="send-to-review"' in html and 'id="accept"' in html

    images = set(re.findall(r'src="(/analysis/[^"]+\.png[^"]*)"', html))
    assert any("icc.png" in s for s in images) and any("distractors.png" in s for s in images)
    assert any("histogram.png" in s for s in images) and any("information.png" in s for s in images)
    for src in images:
        png = client.get(src.replace("&amp;", "&"))
        assert png.status_code == 200 and png.mimetype == "image/png", src
        assert png.data[:8] == b"\x89PNG\r\n\x1a\n" and len(png.data) > 5000

    form_id = past.exam_session.forms[0].form_id
    form_html = client.get(f"/analysis/sessions/{sid}/forms/{form_id}").get_data(as_text=True)
    assert form_html.count("<tr class=") >= 10 and "干扰项分析" in form_html
    item_html = client.get(f"/analysis/sessions/{sid}/forms/{form_id}/items/{miskeyed}").get_data(
        as_text=True
    )
    assert "疑似答案错误" in item_html and "项目特征曲线" in item_html
    assert client.get(f"/analysis/sessions/{sid}?model=3pl").status_code == 200


def test_send_to_review_puts_items_in_the_queue_with_statistics(
    client: FlaskClient, session: Session, past: PastSession
) -> None:
    from item_bank.search import review_queue

    token = login(client, "manager")
    sid = past.exam_session.id
    (miskeyed,) = past.miskeyed
    (easy,) = past.too_easy
    response = client.post(
        f"/analysis/sessions/{sid}/review",
        data={"csrf_token": token, "version_id": [str(miskeyed), str(easy)]},
    )
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "已送审 2 题" in page

    queued = {r.version_id for r in review_queue(session).rows}
    for vid in (miskeyed, easy):
        original = session.get(ItemVersion, vid)
        session.refresh(original)
        assert original.status == APPROVED  # the locked form keeps delivering it
        newest = max(original.item.versions, key=lambda v: v.version_no)
        assert newest.status == IN_REVIEW and newest.id in queued
        assert newest.stem == original.stem and newest.key == original.key
        assert newest.author_id == original.author_id  # the content is still its author's
        (comment,) = session.scalars(
            select(ReviewComment).where(ReviewComment.item_version_id == newest.id)
        ).all()
        assert comment.text.startswith(f"【试题分析 {past.exam_session.code}】")
        assert "难度 p=" in comment.text and "校正题总相关" in comment.text and "IRT" in comment.text
    miskey_comment = session.scalar(
        select(ReviewComment.text)
        .join(ItemVersion, ItemVersion.id == ReviewComment.item_version_id)
        .where(ItemVersion.item_id == session.get(ItemVersion, miskeyed).item_id)
    )
    assert "疑似答案错误" in miskey_comment and "高分组27%" in miskey_comment
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "item.send_to_review")) is not None

    # Sending again adds nothing: the item already waits for review with this sitting's statistics.
    client.post(f"/analysis/sessions/{sid}/review", data={"csrf_token": token, "version_id": [str(miskeyed)]})
    assert len(session.scalars(select(ReviewComment)).all()) == 2


def test_accept_stores_estimates_on_the_versions_assembly_reads(
    client: FlaskClient, session: Session, past: PastSession
) -> None:
    from item_bank.assembly.pool import load_pool
    from item_bank.blueprints import spec_of

    token = login(client, "manager")
    sid = past.exam_session.id
    form = past.exam_session.forms[0].form
    job = job_of(
        session,
        client.post(f"/analysis/sessions/{sid}/accept", data={"csrf_token": token}),
        "analysis.accept",
    )
    assert "已保存估计值" in client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert 'id="stored-count"' in client.get(f"/analysis/sessions/{sid}").get_data(as_text=True)

    (miskeyed,) = past.miskeyed
    used = [fi.item_version_id for fi in session.scalars(select(FormItem).where(FormItem.form_id == form.id))]
    assert form.status == "locked"
    stored = {v.id: v for v in session.scalars(select(ItemVersion).where(ItemVersion.id.in_(used)))}
    for v in stored.values():
        session.refresh(v)
    accepted = [v for v in stored.values() if v.stats_n is not None]
    eligible = {
        vid
        for vid, _, why in estimate_eligibility(analyse_session(session, past.exam_session))
        if why is None
    }
    assert {v.id for v in accepted} == eligible and len(accepted) >= 6
    assert stored[miskeyed].stats_n is None  # negative discrimination is not an estimate to build papers on
    for v in accepted:
        assert v.stats_n == N_PAST and v.stats_session_id == sid
        assert 0 <= v.difficulty <= 1 and v.irt_a > 0 and v.irt_b is not None and v.irt_c == 0.0
    audits = session.scalars(select(AuditEvent).where(AuditEvent.action == "item.accept_estimates")).all()
    assert len(audits) == len(accepted)

    by_version = {r.version_id: r for r in load_pool(session, spec_of(form.blueprint)).records}
    for v in accepted:
        rec = by_version[v.id]
        assert rec.p == pytest.approx(v.difficulty)
        assert rec.irt == pytest.approx((v.irt_a, v.irt_b, v.irt_c))


def test_accept_needs_enough_responses(app: Flask, session: Session, past: PastSession) -> None:
    from exam_server.analysis.operations import accept_estimates

    analysis = analyse_session(session, past.exam_session, AnalysisSettings(min_n=N_PAST + 1))
    report = accept_estimates(session, analysis, "test")
    assert report.accepted == []
    assert all(f"少于 {N_PAST + 1} 人" in why or "区分度为负" in why for _, why in report.skipped)


def test_excel_export_has_every_table(client: FlaskClient, session: Session, past: PastSession) -> None:
    token = login(client, "staff")  # centre staff may read the analysis
    sid = past.exam_session.id
    job = job_of(
        session,
        client.post(f"/analysis/sessions/{sid}/export.xlsx", data={"csrf_token": token}),
        "analysis.export",
    )
    assert job.result_file.endswith(".xlsx")
    sheets = pd.read_excel(io.BytesIO(job_file(client, job)), sheet_name=None)
    assert set(sheets) == SHEETS
    assert len(sheets["试题统计"]) == 10
    assert set(sheets["试题统计"].columns) >= {"难度p", "校正题总相关r", "未答率", "区分度a", "难度b"}
    assert {"疑似答案错误", "高分组选择率", "低分组选择率"} <= set(sheets["干扰项分析"].columns)
    assert "疑似答案错误" in set(sheets["标记试题"]["标记"])  # named, not coded (miskey)
    assert not any(
        code in str(v) for v in sheets["标记试题"]["标记"] for code in ("miskey", "p_high", "p_low", "r_low")
    )
    # An office reads rounded figures with number formats, 合格率 as a percentage.
    book = load_workbook(io.BytesIO(job_file(client, job)))
    forms = book["试卷统计"]
    header = [c.value for c in forms[1]]
    pass_rate, mean = (
        forms.cell(row=2, column=header.index("合格率") + 1),
        forms.cell(row=2, column=header.index("平均分") + 1),
    )
    assert pass_rate.number_format == "0.0%" and mean.number_format == "0.0#"
    assert round(mean.value, 4) == mean.value
    items = book["试题统计"]
    p_column = [c.value for c in items[1]].index("难度p") + 1
    assert items.cell(row=2, column=p_column).number_format == "0.000"
    assert sheets["分数分布"]["人数"].sum() == N_PAST
    # An item everybody got right (the too-easy one may be) has no IRT estimate.
    assert 9 <= len(sheets["IRT参数"]) <= 10


def test_the_analysis_jobs_are_started_and_read_only_by_their_roles(
    app: Flask, session: Session, past: PastSession
) -> None:
    sid = past.exam_session.id
    manager, staff, proctor = app.test_client(), app.test_client(), app.test_client()
    manager_token, staff_token, proctor_token = (
        login(manager, "manager"),
        login(staff, "staff"),
        login(proctor, "proctor"),
    )
    accepted = job_of(
        session,
        manager.post(f"/analysis/sessions/{sid}/accept", data={"csrf_token": manager_token}),
        "analysis.accept",
    )
    exported = job_of(
        session,
        staff.post(f"/analysis/sessions/{sid}/export.xlsx?model=rasch", data={"csrf_token": staff_token}),
        "analysis.export",
    )
    assert exported.params["model"] == "rasch" and exported.result_file.endswith("-rasch.xlsx")
    before = session.scalar(select(func.count(Job.id)))
    for path in (f"/analysis/sessions/{sid}/accept", f"/analysis/sessions/{sid}/export.xlsx"):
        assert proctor.post(path, data={"csrf_token": proctor_token}).status_code == 403
    assert staff.post(f"/analysis/sessions/{sid}/accept", data={"csrf_token": staff_token}).status_code == 403
    assert session.scalar(select(func.count(Job.id))) == before
    refused_job(proctor, accepted)
    refused_job(proctor, exported)
    refused_job(staff, accepted)  # storing estimates is the bank's: centre staff do not see that job
    assert (
        manager.get(f"/jobs/{exported.id}").status_code == 200
    )  # the export is analysis its readers may see


def test_who_may_see_and_act(client: FlaskClient, past: PastSession) -> None:
    sid = past.exam_session.id
    assert client.get(f"/analysis/sessions/{sid}").status_code in (302, 401)
    token = login(client, "staff")
    html = client.get(f"/analysis/sessions/{sid}").get_data(as_text=True)
    assert 'id="send-to-review"' not in html and 'id="accept"' not in html
    assert client.post(f"/analysis/sessions/{sid}/accept", data={"csrf_token": token}).status_code == 403
    client.post("/logout", data={"csrf_token": token})
    login(client, "proctor")
    assert client.get(f"/analysis/sessions/{sid}").status_code == 403


def test_a_sitting_without_submissions_is_refused_with_a_reason(
    client: FlaskClient, session: Session, past: PastSession
) -> None:
    login(client, "manager")
    demo = session.scalar(select(Attempt.session_id).where(Attempt.session_id != past.exam_session.id))
    response = client.get(f"/analysis/sessions/{demo}")
    assert response.status_code == 409
    assert "还没有已交卷的作答" in response.get_data(as_text=True)


def test_cli_reports_exports_sends_and_accepts(
    app: Flask, session: Session, past: PastSession, tmp_path: Path
) -> None:
    runner = app.test_cli_runner()
    excel = tmp_path / "analysis.xlsx"
    plots = tmp_path / "plots"
    result = runner.invoke(
        args=[
            "item-analysis",
            past.exam_session.code,
            "--excel",
            str(excel),
            "--plots",
            str(plots),
            "--send-to-review",
            "--accept",
        ]
    )
    assert result.exit_code == 0, result.output
    (miskeyed,) = past.miskeyed
    out = result.output
    assert external_id(session, miskeyed) in out and "疑似答案错误" in out
    assert "α(KR-20)" in out and "IRT 2PL" in out and "已收敛" in out
    assert "已送审" in out and "已保存估计值" in out
    assert set(pd.read_excel(excel, sheet_name=None)) == SHEETS
    names = {p.name for p in plots.iterdir()}
    assert any(n.endswith("-histogram.png") for n in names) and any(
        n.endswith("-information.png") for n in names
    )
    assert any(external_id(session, miskeyed) in n and n.endswith("-distractors.png") for n in names)
    assert session.scalar(select(ItemVersion).where(ItemVersion.status == IN_REVIEW)) is not None

    missing = runner.invoke(args=["item-analysis", "NO-SUCH-SESSION"])
    assert missing.exit_code != 0 and "没有考试场次" in missing.output


def test_plots_find_a_chinese_font() -> None:
    from exam_server.analysis import plots

    assert plots.cjk_font() in plots.CJK_FONTS
    png = plots.histogram_png("总分分布", edges=[0, 50, 100], counts=[3, 7], mean=60.0, pass_mark=60)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_key_correction_is_used_by_the_analysis(session: Session, past: PastSession) -> None:
    """After 答案更正 the analysis scores with the corrected key, as the results do: the miskey flag goes."""
    from dataclasses import replace

    from exam_server.analysis.compute import analyse_session
    from exam_server.results.corrections import correct_key
    from item_bank.versions import ItemDraft, revise_item

    (miskeyed,) = past.miskeyed
    assert "miskey" in flag_codes(analyse_session(session, past.exam_session), miskeyed)
    version = session.get(ItemVersion, miskeyed)
    fixed = replace(ItemDraft.from_version(version), key=past.miskeyed[miskeyed])
    revise_item(session, version.item, fixed, actor="test", author_id=None)
    session.commit()
    correct_key(session, past.exam_session, version.item.external_id, actor="test", reason="答案有误")
    after = analyse_session(session, past.exam_session)
    assert "miskey" not in flag_codes(after, miskeyed)
