"""The grading screens as graders found them (issue 15, item 8): a defence panel sees who defends, a panel's
progress reads 已评 n/m, a wide panel spread is flagged, a marker's status leaks nothing of the other mark,
thin agreement statistics are hidden, and refused marks come back as typed."""

from __future__ import annotations

import pytest
from conftest import csrf_token_from
from flask import Flask
from grading.test_double_marking import Written, by_points, post_mark, staff_login
from grading.test_panels_and_level2 import Level2
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.grading import monitoring
from exam_server.grading.assignment import assign_panel
from exam_server.grading.errors import GradingError
from exam_server.grading.queries import task_view
from exam_server.sessions.models import Candidate, Ticket

# Defence rubric of level 2: 25, 35, 25, 15 points.
S80, S60, S90 = [20, 28, 20, 12], [15, 20, 15, 10], [22, 32, 23, 13]


def defence_with_panel(level2: Level2) -> object:
    _, defence = level2.thesis()
    panel = level2.panel("grader1", "grader2", "grader3", chair="grader2")
    assign_panel(level2.session, panel, [defence.code], "user:staff")
    return defence


def test_a_defence_panel_sees_the_candidate_but_a_written_paper_stays_blind(app: Flask, session: Session) -> None:
    level2 = Level2(session, n=1)
    defence = defence_with_panel(level2)
    person = session.scalar(select(Candidate).where(Candidate.id == defence.candidate_id))
    ticket = session.scalar(select(Ticket).where(Ticket.candidate_id == person.id))
    client = app.test_client()
    staff_login(client, "grader1")
    page = client.get(f"/grading/tasks/{defence.code}").get_data(as_text=True)
    assert 'id="defence-candidate"' in page and person.name in page and ticket.number in page
    thesis_page = client.get("/grading/").get_data(as_text=True)
    assert person.name not in thesis_page  # the queue lists codes only


def test_a_written_task_stays_blind(app: Flask, session: Session) -> None:
    written = Written(session)
    written.assign()
    short1, _, _ = by_points(written.tasks(0))
    view = task_view(session, short1.code, written.user("grader1"))
    assert view.candidate_name == "" and view.ticket_number == ""


def test_panel_progress_reads_scored_of_members_and_a_wide_spread_is_flagged(app: Flask, session: Session) -> None:
    level2 = Level2(session, n=1)
    defence = defence_with_panel(level2)
    level2.score(defence, "grader1", S80)
    level2.score(defence, "grader3", S60)
    chair_view = task_view(session, defence.code, level2.user("grader2"))
    assert chair_view.status_label == "已评 2/3"
    chief = app.test_client()
    staff_login(chief, "chief")
    assert "已评 2/3" in chief.get(f"/grading/tasks/{defence.code}").get_data(as_text=True)
    level2.score(defence, "grader2", S90)
    view = task_view(session, defence.code, level2.user("grader2"))
    # 80 / 60 / 90: a spread of 30 beyond the rules' tolerance of 10 (10 % of 100).
    assert view.panel_spread == 30 and view.spread_tolerance == 10
    m = monitoring.monitor(session, level2.exam_session)
    assert [(t.code, spread) for t, spread, _ in m.panel_spreads] == [(defence.code, 30)]
    page = chief.get(f"/grading/tasks/{defence.code}").get_data(as_text=True)
    assert 'id="panel-spread"' in page
    monitor_page = chief.get(f"/grading/monitor/{level2.exam_session.id}").get_data(as_text=True)
    assert 'id="panel-spreads"' in monitor_page


def test_a_panel_within_tolerance_is_not_flagged(session: Session) -> None:
    level2 = Level2(session, n=1)
    defence = defence_with_panel(level2)
    for name in ("grader1", "grader2", "grader3"):
        level2.score(defence, name, S80)
    assert task_view(session, defence.code, level2.user("grader2")).panel_spread is None
    assert monitoring.monitor(session, level2.exam_session).panel_spreads == []


def test_a_markers_status_shows_only_their_own_state(app: Flask, session: Session) -> None:
    written = Written(session)
    written.assign()
    short1, _, essay = by_points(written.tasks(0))
    written.mark(short1, "grader2", [4, 4, 4, 4])
    written.mark(essay, "grader1", [5, 5, 5, 5])
    written.mark(essay, "grader2", [15, 20, 10, 10])  # beyond the tolerance: 待仲裁
    first = app.test_client()
    staff_login(first, "grader1")
    page = first.get(f"/grading/tasks/{short1.code}").get_data(as_text=True)
    assert "已一评" not in page and 'id="task-status">待评<' in page and "badge marked" not in page
    done = first.get(f"/grading/tasks/{essay.code}").get_data(as_text=True)
    assert "待仲裁" not in done and 'id="task-status">已提交<' in done and "needs_adjudication" not in done
    chief = app.test_client()
    staff_login(chief, "chief")
    assert "待仲裁" in chief.get(f"/grading/tasks/{essay.code}").get_data(as_text=True)
    assert "已一评" in chief.get(f"/grading/tasks/{short1.code}").get_data(as_text=True)


def test_agreement_below_the_minimum_count_says_too_few(app: Flask, session: Session) -> None:
    written = Written(session)
    written.assign()
    short1, short2, _ = by_points(written.tasks(0))
    # Two pairs in opposite directions: a correlation of −1.00 that means nothing.
    for task, (a, b) in zip((short1, short2), [([4, 4, 4, 4], [2, 2, 2, 2]), ([1, 1, 1, 1], [5, 5, 5, 5])],
                            strict=True):
        written.mark(task, "grader1", a)
        written.mark(task, "grader2", b)
    m = monitoring.monitor(session, written.exam_session)
    g1 = next(g for g in m.graders if g.grader_id == written.seeded.staff["grader1"])
    assert g1.n_pairs == 2 and g1.pearson_r is None and g1.exact is None and g1.too_few
    chief = app.test_client()
    staff_login(chief, "chief")
    page = chief.get(f"/grading/monitor/{written.exam_session.id}").get_data(as_text=True)
    assert "样本不足" in page and "-1.00" not in page


def test_refused_marks_come_back_as_typed_naming_the_criterion(app: Flask, session: Session) -> None:
    written = Written(session)
    written.assign()
    short1, _, _ = by_points(written.tasks(0))
    with pytest.raises(GradingError, match="应在 0 到 5 之间"):
        written.mark(short1, "grader1", [4, 9, 4, 4])
    client = app.test_client()
    staff_login(client, "grader1")
    response = post_mark(client, short1.code, [4, 9, 3.5, 2], "评语保留QX")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "应在 0 到 5 之间" in page
    assert 'value="9"' in page and 'value="3.5"' in page and "评语保留QX" in page
    # Only once: the next visit is an empty form again.
    again = client.get(f"/grading/tasks/{short1.code}").get_data(as_text=True)
    assert 'value="9"' not in again and csrf_token_from(again)


def _photo_of(session: Session, ticket: Ticket) -> bytes:
    """Give `ticket` the application it was scheduled from, with a checked ID photo."""
    import datetime as dt
    import io

    from PIL import Image

    from exam_server.applications.models import ApplicantPhoto, Application, ApplicationWindow
    from exam_server.applications.photos import store_photo
    from exam_server.organisations.models import Organisation

    buf = io.BytesIO()
    Image.new("RGB", (120, 160), (200, 180, 160)).save(buf, "PNG")
    data = buf.getvalue()
    photo: ApplicantPhoto = store_photo(session, "photo.png", data)
    unit = Organisation(kind="city", code="PHOTO-CITY", name="照片测试市")
    window = ApplicationWindow(level=2, part="written", opens_on=dt.date(2026, 1, 1), closes_on=dt.date(2026, 1, 31),
                               created_by="test")
    session.add_all([unit, window])
    session.flush()
    person = ticket.candidate
    application = Application(name=person.name, id_number=person.id_number, sex="男", birth_date=dt.date(1990, 1, 1),
                              guard_cert_no="G1", guard_cert_date=dt.date(2020, 1, 1), level=2, window_id=window.id,
                              unit_id=unit.id, training_unit_id=unit.id, channel="screen", created_by="test",
                              photo_id=photo.id)
    session.add(application)
    session.flush()
    ticket.application_id = application.id
    session.commit()
    return data


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_defence_panel_sees_the_candidates_photo_a_written_paper_none(app: Flask, session: Session) -> None:
    level2 = Level2(session, n=1)
    thesis, defence = level2.thesis()
    panel = level2.panel("grader1", "grader2", "grader3", chair="grader2")
    assign_panel(session, panel, [defence.code], "user:staff")
    ticket = session.scalar(select(Ticket).where(Ticket.candidate_id == defence.candidate_id,
                                                 Ticket.session_id == defence.session_id))
    client = app.test_client()
    staff_login(client, "grader1")
    page = client.get(f"/grading/tasks/{defence.code}").get_data(as_text=True)
    assert 'id="defence-photo"' not in page  # no photo on file: none shown
    data = _photo_of(session, ticket)
    page = client.get(f"/grading/tasks/{defence.code}").get_data(as_text=True)
    assert 'id="defence-photo"' in page and f"/grading/tasks/{defence.code}/photo" in page
    photo = client.get(f"/grading/tasks/{defence.code}/photo")
    assert photo.status_code == 200 and photo.data == data and photo.mimetype == "image/png"
    assert photo.headers["X-Content-Type-Options"] == "nosniff"
    # A grader not on the panel may not fetch it.
    outsider = app.test_client()
    staff_login(outsider, "examiner1")
    assert outsider.get(f"/grading/tasks/{defence.code}/photo").status_code == 403
    # The thesis of the same candidate is marked blind: its task has no photo to give, even to the chief.
    chief = app.test_client()
    staff_login(chief, "chief")
    assert chief.get(f"/grading/tasks/{thesis.code}/photo").status_code == 404
    assert task_view(session, thesis.code, level2.user("chief")).has_photo is False
    assert 'id="defence-photo"' not in chief.get(f"/grading/tasks/{thesis.code}").get_data(as_text=True)
