"""A level-2 (保安师) sitting for tests and the grading demo: a written paper of short answers and an
essay, candidates with tickets and attempts, graders, a chief grader and centre staff.

Built with the same operations a centre uses (items, blueprint, lock, session, tickets, attempts);
the form is put together by hand because three human-graded items need no optimisation.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.core.models import User
from exam_server.core.security import hash_password
from exam_server.delivery.models import Attempt
from exam_server.delivery.operations import check_in
from exam_server.delivery.steps import save_answer, start, submit
from exam_server.sessions.credentials import hash_sealed, printable_passwords
from exam_server.sessions.models import Site, Ticket
from exam_server.sessions.operations import SittingRules, create_room, create_site
from exam_server.sessions.scheduling import Applicant, create_sitting, schedule
from item_bank.blueprints import TYPE_LABELS, create_blueprint
from item_bank.db import utcnow
from item_bank.forms import approve_form, lock_form
from item_bank.models import APPROVED, Form, FormItem
from item_bank.versions import ItemDraft, create_item

ACTOR = "system:seed"
SEED_SITE = "SEED-W"

# Two short answers and an essay with their model answers and rubrics, as data beside this module.
WRITTEN_ITEMS: list[dict[str, Any]] = json.loads(Path(__file__).with_name("written_paper.json").read_text("utf-8"))

GRADING_STAFF = [
    ("staff", "鉴定中心 张老师", ["centre_staff"]),
    ("grader1", "阅卷员 一号", ["grader"]),
    ("grader2", "阅卷员 二号", ["grader"]),
    ("grader3", "阅卷员 三号", ["grader"]),
    ("chief", "阅卷组长 周老师", ["chief_grader"]),
    ("examiner1", "答辩评委 刘老师", ["grader"]),
    ("examiner2", "答辩评委 孙老师", ["grader"]),
]

CANDIDATES = [
    ("440106198503120011", "陈志强", "广州市保安服务有限公司"),
    ("440106198807230022", "林晓燕", "南方安保集团"),
    ("440106199001150033", "黄建华", "平安物业管理有限公司"),
    ("440106198211080044", "吴国栋", "广州市保安服务有限公司"),
    ("440106199305300055", "郑丽娟", "南方安保集团"),
    ("440106197912270066", "何振宇", "平安物业管理有限公司"),
]


@dataclass
class SeededWritten:
    exam_session_id: int
    blueprint_id: int
    form_id: int
    version_ids: list[int]
    attempt_ids: list[int]
    candidate_ids: list[int]
    logins: list[tuple[str, str, str]] = field(default_factory=list)
    staff: dict[str, int] = field(default_factory=dict)  # username -> user id
    staff_password: str = ""


def ensure_staff(session: Session, password: str, hash_profile: str = "default") -> dict[str, int]:
    """The grading demo's staff accounts (created if missing) by username."""
    out = {}
    for username, display, roles in GRADING_STAFF:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            user = User(username=username, display_name=display, roles=roles,
                        password_hash=hash_password(password, hash_profile))
            session.add(user)
            session.flush()
        out[username] = user.id
    session.commit()
    return out


def seed_paper_sitting(
    session: Session,
    items: list[dict[str, Any]],
    *,
    level: int,
    part: str,
    grading: dict[str, Any] | None = None,
    candidates: list[tuple[str, str, str]] | None = None,
    guard_cert_dates: list[dt.date] | None = None,
    starts_at: dt.datetime | None = None,
    staff_password: str = "pw-staff",
    hash_profile: str = "default",
    code: str | None = None,
    name: str = "",
) -> SeededWritten:
    """A sitting of a hand-made paper, checked in and ready to start.

    `items` are dicts with type, stem, points and, by type, options and key, scoring_rule (multiple
    response), or model_answer and rubric (people-graded); `candidates` are (ID number, name, employer).
    """
    staff = ensure_staff(session, staff_password, hash_profile)
    versions = []
    for spec in items:
        content: dict[str, Any] = {}
        if "options" in spec:
            content["options"] = spec["options"]
        if "rubric" in spec:
            content.update(model_answer=spec["model_answer"], rubric=spec["rubric"])
        draft = ItemDraft(type=spec["type"], stem=spec["stem"], points=spec["points"], levels=[level], part=part,
                          content=content, key=spec.get("key"), source="seed")
        version = create_item(session, draft, actor=ACTOR, author_id=None)
        # Fixture data: the two-person review of item_bank.review is not what these sittings are for.
        version.status = APPROVED
        versions.append(version)
    session.flush()
    sections: dict[str, dict[str, Any]] = {}
    for spec in items:
        sec = sections.setdefault(spec["type"], {"type": spec["type"], "count": 0, "points": spec["points"],
                                                 "title": TYPE_LABELS.get(spec["type"], spec["type"])})
        sec["count"] += 1
        if spec.get("scoring_rule"):
            sec["scoring_rule"] = spec["scoring_rule"]
    tag = code or f"{level}{part[0].upper()}-{utcnow():%H%M%S%f}"
    blueprint = create_blueprint(session, {
        "name": f"{level}级 {part} {tag}",
        "level": level,
        "part": part,
        "duration_s": 120 * 60,
        "pass_mark": 60,
        "sections": list(sections.values()),
        "grading": grading if grading is not None else {
            "tolerance_share": 0.1, "final_rule": "mean", "panel_rule": "trimmed_mean",
            "defence_weights": {"thesis": 40, "defence": 60},
        },
    }, actor=ACTOR)
    form = Form(code=f"F-{tag}", blueprint_id=blueprint.id, assembly_group=tag)
    session.add(form)
    session.flush()
    for pos, (spec, version) in enumerate(zip(items, versions, strict=True), start=1):
        session.add(FormItem(form_id=form.id, item_version_id=version.id, position=pos,
                             section=sections[spec["type"]]["title"], points=version.points,
                             scoring_rule=spec.get("scoring_rule", "exact")))
    session.flush()
    # A paper is approved by one person and locked by another (item_bank.forms.lock_form).
    approve_form(session, form, "system:seed-reviewer")
    lock_form(session, form, ACTOR)
    session.commit()
    level_name = {2: "保安师（二级）", 1: "高级保安师（一级）"}.get(level, f"{level}级")
    # The sitting as staff make one (sessions/scheduling.py): a room, the sitting, the candidates scheduled.
    people = candidates or CANDIDATES[:4]
    site = session.scalar(select(Site).where(Site.code == SEED_SITE)) or create_site(
        session, code=SEED_SITE, name="笔试与答辩考点", city="广州", actor=ACTOR)
    room = create_room(session, site, code=f"{len(site.rooms) + 1:02d}", name=f"笔试考场 {tag}",
                       seats=max(1, len(people)), actor=ACTOR)
    start = starts_at or utcnow() - dt.timedelta(minutes=5)
    exam_session = create_sitting(
        session, code=f"S-{tag}", name=name or f"2026年{level_name}笔试与论文答辩", forms=[form], rooms=[room],
        starts_at=start, ends_at=start + dt.timedelta(seconds=blueprint.duration_s), actor=ACTOR,
        rules=SittingRules(min_submit_min=0),  # a seeded sitting is submitted as soon as it is sat
    )
    applicants = [
        Applicant(id_number=id_number, name=person_name, guard_cert_no=f"粤公保证字{id_number[-6:]}",
                  guard_cert_date=guard_cert_dates[i] if guard_cert_dates else dt.date(2015, 6, 1),
                  employer=employer, city="广州")
        for i, (id_number, person_name, employer) in enumerate(people)
    ]
    secret = current_app.config["SECRET_KEY"]
    schedule(session, exam_session, applicants, ACTOR, secret=secret)
    tickets = session.scalars(select(Ticket).where(Ticket.session_id == exam_session.id).order_by(Ticket.number)).all()
    passwords = printable_passwords(tickets, secret)
    logins = [(t.number, passwords[t.id], t.candidate.name) for t in tickets]
    candidate_ids = [t.candidate_id for t in tickets]
    hash_sealed(session, tickets, secret, hash_profile)  # served by other processes, under other keys
    attempts = list(session.scalars(
        select(Attempt).where(Attempt.session_id == exam_session.id).order_by(Attempt.ticket_id)
    ))
    for attempt in attempts:
        check_in(session, attempt, ACTOR)
    return SeededWritten(
        exam_session_id=exam_session.id, blueprint_id=blueprint.id, form_id=form.id,
        version_ids=[v.id for v in versions], attempt_ids=[a.id for a in attempts], candidate_ids=candidate_ids,
        logins=logins, staff=staff, staff_password=staff_password,
    )


def seed_written_sitting(
    session: Session,
    *,
    level: int = 2,
    n_candidates: int = 4,
    grading: dict[str, Any] | None = None,
    starts_at: dt.datetime | None = None,
    staff_password: str = "pw-staff",
    hash_profile: str = "default",
    code: str | None = None,
) -> SeededWritten:
    """A level 2 (or 1) written-paper sitting of two short answers and an essay (100 points), checked in;
    `grading` overrides the blueprint's grading rules (default: tolerance 10 % of each task, mean rule,
    trimmed-mean panels, thesis 40 / defence 60)."""
    return seed_paper_sitting(
        session, WRITTEN_ITEMS, level=level, part="written", grading=grading,
        candidates=CANDIDATES[:n_candidates], starts_at=starts_at, staff_password=staff_password,
        hash_profile=hash_profile, code=code,
    )


def sit(session: Session, attempt_id: int, answers: dict[int, Any]) -> dict[str, Any]:
    """Play one candidate's attempt through the delivery operations: start, answer {version id: value}, submit."""
    attempt = session.get(Attempt, attempt_id)
    start(session, attempt.id, actor="candidate")
    for seq, (version_id, value) in enumerate(answers.items(), start=1):
        ack = save_answer(session, attempt.candidate_id, attempt.id, version_id, value, seq,
                          f"seed-{attempt.id}-{seq}")
        if not ack.get("ok"):
            raise RuntimeError(f"save refused: {ack}")
    ack = submit(session, attempt.candidate_id, attempt.id, f"seed-submit-{attempt.id}")
    if not ack.get("ok"):
        raise RuntimeError(f"submit refused: {ack}")
    return ack


SAMPLE_ANSWERS = [
    "首先礼貌上前询问，请其出示证件核查身份；同时观察其携带物品和神态；如有异常立即报告领班，"
    "必要时拨打110报警，并保护好现场，事后做好巡逻记录。",
    "方案应包括：活动基本情况；安保组织机构和职责；人员、装备配置；场地分区和出入口管理；"
    "安全检查；人员疏散路线；应急处置预案；通信联络方式。",
    "建立应急管理体系，首先要做好风险评估，识别服务区域内的火灾、治安、拥挤踩踏等风险；"
    "其次要建立应急组织，明确指挥、处置、联络各岗位职责；第三要编制预案并定期演练；"
    "第四加强队员培训，配足应急物资；第五建立信息报告制度，与公安机关、消防部门保持联动；"
    "最后在事件结束后总结评估，不断改进。以我公司某商场项目为例……",
]


def sit_written(session: Session, attempt_id: int, answers: list[str] | None = None) -> None:
    """A candidate types the written paper's answers (canned ones by default) and submits."""
    attempt = session.get(Attempt, attempt_id)
    texts = answers or SAMPLE_ANSWERS
    sit(session, attempt_id, dict(zip(sorted(attempt.item_order), texts, strict=False)))
