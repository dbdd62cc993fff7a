"""`examctl demo`: a seeded bank, an assembled and locked paper, a sitting that starts now, and a server.
`examctl demo-grading`: a level-2 written paper sat by every candidate, theses, a defence panel and graders.

`seed_exam` is the same path a real centre takes (import, blueprint, assembly, lock, session,
tickets, attempts), so tests use it too with a smaller paper.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import click
from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exam_server.analysis.simulate import demo_past_session
from exam_server.applications.models import Application, ApplicationWindow
from exam_server.applications.operations import import_rows, open_window, review_batch
from exam_server.applications.queries import approved_applications
from exam_server.bank.operations import approve_import_batch, reviewer_for, run_import
from exam_server.certificates.models import Certificate
from exam_server.certificates.numbering import set_code
from exam_server.certificates.operations import issue_for_sitting
from exam_server.core.cli import serve
from exam_server.core.migrate import upgrade_to_head
from exam_server.core.models import User
from exam_server.core.security import hash_password
from exam_server.core.timefmt import DISPLAY_ZONE
from exam_server.delivery.models import Attempt
from exam_server.delivery.operations import check_in
from exam_server.extensions import db
from exam_server.grading.assignment import assign_panel, assign_tasks, create_panel
from exam_server.grading.queries import defence_tasks
from exam_server.grading.seed import seed_written_sitting, sit_written
from exam_server.grading.tasks import submit_thesis
from exam_server.jobs.spawn import worker_beside
from exam_server.organisations import operations as org_ops
from exam_server.organisations.models import Centre, Organisation, PilotUnit
from exam_server.organisations.scope import scope_for
from exam_server.results.release import release_results
from exam_server.sessions import sites as site_ops
from exam_server.sessions.credentials import hash_sealed, printable_passwords
from exam_server.sessions.intake import as_applicants, mark_ticketed
from exam_server.sessions.models import ExamSession, Room, Site, Ticket
from exam_server.sessions.operations import SittingRules, create_room, rooms_of_session
from exam_server.sessions.scheduling import Applicant, create_sitting, exemptions, schedule
from exam_server.skills.seed import SimulatedSkill, simulate_skill_part
from item_bank.assembly import assemble_forms
from item_bank.blueprints import create_blueprint
from item_bank.data import DEMO_BANK_CSV
from item_bank.db import Base, utcnow
from item_bank.forms import approve_form, lock_form
from item_bank.kernel import user_actor
from item_bank.models import ItemVersion, KnowledgeArea

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BANK = DEMO_BANK_CSV
ACTOR = "system:demo"

# The public syllabus's paper (item_bank/data/README.md): 100 items at 1 point in 90 minutes.
LEVEL5_THEORY_SECTIONS = [
    {"type": "judge", "count": 20, "points": 1, "title": "一、判断题"},
    {"type": "single", "count": 60, "points": 1, "title": "二、单项选择题"},
    {"type": "multiple", "count": 20, "points": 1, "scoring_rule": "all_or_nothing", "title": "三、多项选择题"},
]

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英建华志强海燕"

STAFF_ACCOUNTS = [
    ("staff", "鉴定中心 张老师", ["centre_staff"]),
    ("proctor", "监考员 李老师", ["proctor"]),
    ("manager", "题库管理员 王老师", ["bank_manager"]),
    ("author", "命题人 赵老师", ["author"]),
    ("reviewer", "审题人 陈老师", ["reviewer"]),
    ("grader1", "阅卷员 一号", ["grader"]),
    ("grader2", "阅卷员 二号", ["grader"]),
    ("chief", "阅卷组长 周老师", ["chief_grader"]),
    ("unit", "试点单位 刘老师", ["pilot_unit"]),
]

# The finished sitting's practical-skill part (操作技能): two examiners (考评员) at every station, a chief examiner (主考).
SKILL_ACCOUNTS = [
    ("examiner1", "考评员 孙老师", ["grader"]),
    ("examiner2", "考评员 钱老师", ["grader"]),
    ("zhukao", "主考 吴老师", ["chief_grader"]),
]
# The certificate number's codes (统一发证): province, city, centre (institution type 0, an assessment centre).
DEMO_CERTIFICATE_CODES = {"province": "44", "city": "01", "centre": "001"}
DEMO_ISSUER = "广东省人力资源和社会保障厅"

# The demo's organisations, made through the same operations staff use (organisations/operations.py).
DEMO_PROVINCE = "广东省"
DEMO_CITY = "广州"
DEMO_CENTRE = ("C001", "广州市职业技能鉴定中心")
DEMO_UNIT = ("U0001", "广州市保安培训学校", "粤公保培字（2024）001号", "5,4")
DEMO_SITE = ("GZ01", "广州市保安员职业技能鉴定上机考点", "粤鉴考备-GZ01")
# Which organisation each demo account belongs to: the bank is the province's; the sitting's people the centre's.
DEMO_MEMBERSHIP = {"manager": "province", "author": "province", "reviewer": "province", "unit": "unit"}


@dataclass
class SeededExam:
    exam_session_id: int
    blueprint_id: int
    form_ids: list[int]
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # (ticket, password, name)
    staff: list[tuple[str, str, str]] = field(default_factory=list)  # (username, password, roles)
    item_count: int = 0


def demo_id_number(index: int, rng: random.Random) -> str:
    """A well-formed, unique 18-character 居民身份证号 (GB 11643) for demo candidate `index`."""
    district = f"4401{(index // 1000) % 100:02d}"  # the district changes every 1,000 candidates
    body = f"{district}19{rng.randint(70, 99):02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{index % 1000:03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
    return body + check


def bank_area_shares(session: Session, level: int = 5) -> dict[str, float]:
    """Each knowledge area's share of the approved bank, rounded: a blueprint close to the bank's own mix."""
    rows = session.execute(
        select(KnowledgeArea.code, func.count(ItemVersion.id))
        .join(ItemVersion, ItemVersion.knowledge_area_id == KnowledgeArea.id)
        .where(ItemVersion.status == "approved")
        .group_by(KnowledgeArea.code)
    ).all()
    total = sum(n for _, n in rows)
    shares = {code: round(n / total, 2) for code, n in rows if n / total >= 0.005}
    return shares


def seed_exam(
    session: Session,
    *,
    bank_path: Path = DEFAULT_BANK,
    sections: list[dict[str, Any]] | None = None,
    n_candidates: int = 30,
    n_forms: int = 1,
    duration_s: int = 90 * 60,
    starts_at: dt.datetime | None = None,
    hash_profile: str = "default",
    check_in_all: bool = True,
    staff_password: str | None = None,
    seed: int = 2026,
    name: str = "2026年保安员（五级/初级）理论知识 上机考试",
    rules: SittingRules | None = None,
    via_applications: bool = False,
    keep_sealed: bool = False,
) -> SeededExam:
    """Import the bank, build and lock the paper, and set up a sitting with tickets and attempts. The candidates
    are `n_candidates` made-up people; `via_applications` brings them in the way a centre does (the demo): the
    demo unit imports their applications, its staff pass 初审, the centre 复审, and the approved are scheduled.
    The initial passwords stay sealed under this app's SECRET_KEY (`keep_sealed`: the demo, whose tickets print
    them) or are hashed at once (tests and load runs, served by other processes under other keys)."""
    staff, accounts = _staff_accounts(session, staff_password, hash_profile)
    centre = demo_organisations(session, accounts)
    import_reviewed_bank(session, bank_path, importer=accounts["manager"], reviewer=accounts["reviewer"])
    sections = sections or LEVEL5_THEORY_SECTIONS
    n_items = sum(int(s["count"]) for s in sections)
    spec = {
        "name": f"五级理论知识 上机考试（{n_items} 题）",
        "level": 5,
        "part": "theory",
        "duration_s": duration_s,
        "pass_mark": 60,
        "sections": sections,
        "area_shares": bank_area_shares(session),
        # A short paper cannot hit shares finer than one item.
        "area_tolerance": max(0.05, 1.0 / n_items),
        "max_overlap": 0.3,
    }
    blueprint = create_blueprint(session, spec, actor=ACTOR)
    session.commit()
    result = assemble_forms(session, blueprint, n_forms=n_forms, seed=seed, actor=ACTOR)
    forms = list(result.forms)
    for form in forms:  # four eyes: the reviewer approves the paper, the bank manager locks it
        approve_form(session, form, actor=user_actor(accounts["reviewer"].username))
        lock_form(session, form, actor=user_actor(accounts["manager"].username))
    session.commit()

    # The sitting the way staff make one (sessions/scheduling.py): the centre's site with enough 30-seat rooms,
    # the sitting with its forms, rooms and rules, then the applicants scheduled into seats (tickets, sealed
    # initial passwords, attempts prepared).
    rng = random.Random(seed)
    on_ticketed = None
    if via_applications:
        applicants = demo_applications(session, accounts, n_candidates, rng)
        on_ticketed = partial(mark_ticketed, actor=ACTOR)
    else:
        applicants = demo_applicants(n_candidates, rng)
    rooms = demo_rooms(session, len(applicants))
    start = starts_at or utcnow()
    exam_session = create_sitting(
        session, code=f"DEMO-{utcnow():%Y%m%d}", name=name, forms=forms, rooms=rooms, starts_at=start,
        ends_at=start + dt.timedelta(seconds=duration_s), actor=ACTOR,
        # Tests and load runs submit as soon as they have answered: no minimum time unless a test asks.
        rules=rules or SittingRules(min_submit_min=0),
    )
    assert exam_session.centre_id == centre.id  # the centre runs the sitting (its staff see it)
    schedule(session, exam_session, applicants, ACTOR, secret=current_app.config["SECRET_KEY"],
             on_ticketed=lambda s, ids: on_ticketed(s, ids) if on_ticketed else None)
    tickets = session.scalars(select(Ticket).where(Ticket.session_id == exam_session.id).order_by(Ticket.number)).all()
    passwords = printable_passwords(tickets, current_app.config["SECRET_KEY"])
    logins = [(t.number, passwords[t.id], t.candidate.name) for t in tickets]
    if not keep_sealed:
        hash_sealed(session, tickets, current_app.config["SECRET_KEY"], hash_profile)
    used = rooms_of_session(session, exam_session)
    for username, _password, _roles in staff:  # a proctor created now watches the first room
        if "proctor" in accounts[username].roles and used:
            accounts[username].room_id = used[0].id
    session.commit()
    if check_in_all:
        for attempt in session.scalars(select(Attempt).where(Attempt.session_id == exam_session.id)):
            check_in(session, attempt, ACTOR)
    return SeededExam(
        exam_session_id=exam_session.id, blueprint_id=blueprint.id, form_ids=[f.id for f in forms],
        logins=logins, staff=staff, item_count=sum(int(s["count"]) for s in spec["sections"]),
    )


def demo_organisations(session: Session, accounts: dict[str, User]) -> Centre:
    """The province, its city, the centre with its test site (and filing number) and a pilot unit, made if missing
    by the organisations' own operations; every demo account is made a member of one. Returns the centre."""
    org_ops.ensure_province(session, ACTOR, DEMO_PROVINCE)
    code, name = DEMO_CENTRE
    centre = session.scalar(select(Centre).where(Centre.code == code)) or org_ops.create_centre(
        session, name=name, city=DEMO_CITY, code=code, actor=ACTOR)
    unit_code, unit_name, licence, levels = DEMO_UNIT
    unit = session.scalar(select(PilotUnit).where(PilotUnit.code == unit_code)) or org_ops.create_unit(
        session, name=unit_name, city=DEMO_CITY, centre=centre, licence_number=licence, levels=levels,
        code=unit_code, actor=ACTOR)
    site_code, site_name, filing_number = DEMO_SITE
    if session.scalar(select(Site).where(Site.code == site_code)) is None:
        site_ops.create_site(session, code=site_code, name=site_name, city=DEMO_CITY, centre_id=centre.id,
                             filing_number=filing_number, actor=ACTOR)
    the_province = org_ops.province(session)
    members: dict[str, Organisation | None] = {"province": the_province, "unit": unit}
    # The demo's accounts are seeded, not created by anyone (their creation is not audited either): they get their
    # organisation as part of being made.
    for username, user in accounts.items():
        organisation = members.get(DEMO_MEMBERSHIP.get(username, "centre"), centre)
        if user.organisation_id is None and organisation is not None:
            user.organisation_id = organisation.id
    session.commit()
    return centre


ROOM_SIZE = 30
DEMO_RULES = SittingRules(timing="own_start", late_entry_min=24 * 60, min_submit_min=0)


def demo_applicants(n: int, rng: random.Random) -> list[Applicant]:
    """`n` made-up approved applicants with well-formed ID numbers (none exempt from theory)."""
    today = dt.date.today()
    return [
        Applicant(
            id_number=demo_id_number(i, rng),
            name=rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)[: rng.randint(0, 1)],
            guard_cert_no=f"粤公保证字{2020 + i % 5}{i:05d}",
            guard_cert_date=today - dt.timedelta(days=400 + 37 * i),
            employer=rng.choice(["广州市保安服务有限公司", "平安物业管理有限公司", "南方安保集团"]),
            city="广州",
        )
        for i in range(n)
    ]


def demo_applications(session: Session, accounts: dict[str, User], n: int, rng: random.Random) -> list[Applicant]:
    """`n` trainees of the demo unit through the applications' own operations: level 5 theory opened for
    applications, the unit's import (all or nothing), 初审 by the unit's account, 复审 by the centre's; returns the
    approved as applicants of a theory sitting today (the theory-exempt among them are listed, not seated)."""
    today = utcnow().astimezone(DISPLAY_ZONE).date()  # the province's dates are Beijing dates
    for part in ("theory", "skill"):  # level 5 opened first (逐级启动): both its parts
        if not session.scalar(select(ApplicationWindow).where(ApplicationWindow.level == 5,
                                                              ApplicationWindow.part == part)):
            open_window(session, level=5, part=part, opens_on=today - dt.timedelta(days=30), closes_on=today,
                        exam_on=today, actor=ACTOR)
    unit = session.scalar(select(PilotUnit).where(PilotUnit.code == DEMO_UNIT[0]))
    assert unit is not None
    rows = []
    for i, person in enumerate(demo_applicants(n, rng)):
        # Two in ten hold a 保安员证 issued under 3 years ago: exempt from theory, so the sitting lists them.
        issued = today - dt.timedelta(days=400 + 37 * i if i % 10 in (3, 7) else 1200 + 37 * i)
        rows.append((i + 2, {"姓名": person.name, "身份证号": person.id_number, "性别": "", "手机号": f"139{i:08d}",
                             "工作单位": person.employer, "保安员证编号": person.guard_cert_no,
                             "保安员证发证日期": issued.isoformat(), "申报等级": "初级保安员",
                             "培训单位": unit.name}))
    unit_user, centre_user = accounts["unit"], accounts["staff"]
    import_rows(session, unit, rows, actor=user_actor(unit_user.username), scope=scope_for(unit_user, session),
                file="demo")
    submitted = list(session.scalars(select(Application.id).where(Application.unit_id == unit.id,
                                                                  Application.status == "submitted")))
    review_batch(session, submitted, stage="unit", approve=True, reason="", actor=user_actor(unit_user.username),
                 scope=scope_for(unit_user, session))
    review_batch(session, submitted, stage="centre", approve=True, reason="", actor=user_actor(centre_user.username),
                 scope=scope_for(centre_user, session))
    return as_applicants(session, approved_applications(session, unit_ids=[unit.id], level=5), "theory", today)


def demo_rooms(session: Session, candidates: int) -> list[Room]:
    """The demo site's rooms (第1考场 … of 30 seats), as many as `candidates` need, made through the site
    operations when missing."""
    site = session.scalar(select(Site).where(Site.code == DEMO_SITE[0]))
    assert site is not None, "demo_organisations makes the demo site"
    rooms = list(site.rooms)
    while len(rooms) * ROOM_SIZE < max(candidates, 1):
        number = len(rooms) + 1
        rooms.append(create_room(session, site, code=f"{number:02d}", name=f"第{number}考场", seats=ROOM_SIZE,
                                 actor=ACTOR))
    return rooms[: max(1, -(-candidates // ROOM_SIZE))]


def _staff_accounts(
    session: Session, staff_password: str | None, hash_profile: str,
    wanted: list[tuple[str, str, list[str]]] = STAFF_ACCOUNTS,
) -> tuple[list[tuple[str, str, str]], dict[str, User]]:
    """The demo's staff accounts (made if missing): the new ones with their passwords, and every one by name."""
    created = []
    accounts = {}
    for username, display, roles in wanted:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            password = staff_password or f"{username}-{secrets.randbelow(10**6):06d}"
            user = User(username=username, display_name=display, roles=roles,
                        password_hash=hash_password(password, hash_profile))
            session.add(user)
            created.append((username, password, ",".join(roles)))
        accounts[username] = user
    session.commit()
    return created, accounts


@dataclass
class FinishedLevel:
    """The finished sitting carried to the end: its skill part scored, results released, certificates issued."""

    skill: SimulatedSkill
    released: int
    certificates: list[Certificate]
    staff: list[tuple[str, str, str]]


def finish_past_sitting(
    session: Session, past: ExamSession, *, staff_password: str | None = None, hash_profile: str = "default"
) -> FinishedLevel:
    """The finished theory sitting's level carried to the end the way a centre does it: the skill part observed
    at three stations (two examiners each, the chief examiner deciding one case beyond the tolerance), both parts'
    results released, the province's certificate codes set and the passed candidates' certificates issued."""
    centre = session.scalar(select(Centre).where(Centre.code == DEMO_CENTRE[0]))
    assert centre is not None, "demo_organisations makes the demo centre"
    past.centre_id = centre.id  # the centre ran it (its staff see it; certificates carry its code)
    created, accounts = _staff_accounts(session, staff_password, hash_profile, SKILL_ACCOUNTS)
    for user in accounts.values():
        user.organisation_id = user.organisation_id or centre.id
    session.commit()
    skill = simulate_skill_part(session, past, [accounts["examiner1"], accounts["examiner2"]], accounts["zhukao"],
                                ACTOR)
    skill.sitting.status = "closed"
    session.commit()
    released = sum(release_results(session, s.id, ACTOR).released for s in (past, skill.sitting))
    city = centre.parent
    assert city is not None and city.parent is not None
    set_code(session, city.parent, DEMO_CERTIFICATE_CODES["province"], issuer=DEMO_ISSUER)
    set_code(session, city, DEMO_CERTIFICATE_CODES["city"])
    set_code(session, centre, DEMO_CERTIFICATE_CODES["centre"], institution_type=0)
    session.commit()
    certificates = issue_for_sitting(session, skill.sitting.id, ACTOR)
    return FinishedLevel(skill, released, certificates, created)


def import_reviewed_bank(session: Session, bank_path: Path, *, importer: User, reviewer: User) -> int:
    """The bank as a centre gets it: the bank manager imports it (its versions wait for review), then a reviewer,
    another person, approves the import batch through the review queue's own operation. Returns the items approved."""
    report = run_import(session, bank_path, reviewer_for(importer), dry_run=False)
    if report.batch_id is None:
        return 0
    return len(approve_import_batch(session, report.batch_id, reviewer_for(reviewer)).done)


def write_demo_logins(instance: Path, logins: list[tuple[str, str, str]]) -> Path:
    """Every demo candidate's login (准考证号, 初始密码, 姓名) as a CSV in the instance folder (UTF-8 with a BOM so
    Excel reads the Chinese); the file is the demo's own, readable by its owner only."""
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "demo_logins.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["准考证号", "初始密码", "姓名"])
        writer.writerows(logins)
    path.chmod(0o600)
    return path


def _reset_database(url: str) -> None:
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        engine = db.engine
        assert engine is not None
        Base.metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    db.dispose()
    upgrade_to_head(url)


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--bank", "bank_path", type=click.Path(exists=True, path_type=Path), default=DEFAULT_BANK,
              show_default=True, help="题库文件")
@click.option("--candidates", default=30, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="只准备数据，不启动服务")
@click.option("--past-candidates", default=300, show_default=True, type=int,
              help="另建一场已结束的场次，考生作答为模拟数据，可直接做试题分析（0 = 不建）")
def demo(host: str, port: int, bank_path: Path, candidates: int, no_serve: bool, past_candidates: int) -> None:
    """演示：导入公开题库、组卷、创建一场立即开始的五级理论考试，并启动考试服务。"""
    started = time.monotonic()
    url = current_app.config["DATABASE_URL"]
    click.echo(f"演示数据库: {url}（将被清空重建）")
    _reset_database(url)
    # A demo is tried at any hour of its day: each candidate gets the full 90 minutes from their own start, entry
    # stays open all day and 交卷 is possible at once (a real sitting's defaults are printed on its tickets).
    seeded = seed_exam(db.session, bank_path=bank_path, n_candidates=candidates, via_applications=True,
                       keep_sealed=True, rules=DEMO_RULES)
    past = demo_past_session(db.session, seeded.form_ids, past_candidates)
    finished = None
    if past is not None:
        finished = finish_past_sitting(db.session, past.exam_session,
                                       hash_profile=current_app.config.get("PASSWORD_HASH_PROFILE", "default"))
        seeded.staff.extend(finished.staff)
    counts = Counter(v for v in db.session.scalars(select(ItemVersion.type)))
    ready = time.monotonic() - started
    click.echo("")
    click.echo(f"题库: {sum(counts.values())} 题（单选 {counts['single']}，多选 {counts['multiple']}，判断 {counts['judge']}）")
    exempt = len(exemptions(db.session, db.session.get(ExamSession, seeded.exam_session_id)))
    click.echo(f"试卷: {seeded.item_count} 题，{len(seeded.form_ids)} 套平行卷；考试场次已开始，"
               f"{len(seeded.logins)} 名考生已入场（另有 {exempt} 人免考理论知识，未安排）。")
    click.echo("考生经试点单位导入申请、初审、鉴定中心复审后编排入场；准考证（印有初始密码）在 /centre/sittings 打印。")
    click.echo("")
    logins_file = write_demo_logins(Path(current_app.instance_path), seeded.logins)
    click.echo(f"考生登录  http://{host}:{port}/login （全部 {len(seeded.logins)} 个考生账号见 {logins_file}）")
    for number, password, name in seeded.logins[:3]:
        click.echo(f"  准考证号 {number}  密码 {password}  （{name}）")
    click.echo(f"监考台  http://{host}:{port}/proctor （监考员 proctor 负责第1考场；考生已全部核验入场）")
    click.echo(f"工作人员登录  http://{host}:{port}/staff/login")
    for username, password, roles in seeded.staff:
        click.echo(f"  用户名 {username:<9} 密码 {password:<14} 角色 {roles}")
    if past is not None:
        click.echo(f"试题分析  http://{host}:{port}/analysis/sessions/{past.exam_session.id} "
                   f"（已结束的场次 {past.exam_session.code}，{past_candidates} 名考生模拟作答；用 manager 登录）")
    if finished is not None:
        skill = finished.skill
        click.echo(f"操作技能  http://{host}:{port}/skills/sittings/{skill.sitting.id} （场次 {skill.sitting.code}："
                   f"{skill.candidates} 名考生、3 个考站，考评员 examiner1 / examiner2 各评一遍，"
                   f"主考 zhukao 裁定 {len(skill.decided)} 例超差；用 staff 登录）")
        click.echo(f"成绩与证书  两场成绩已发布（{finished.released} 条）；已发证书 {len(finished.certificates)} 本："
                   f"http://{host}:{port}/certificates/ （staff）")
        if finished.certificates:
            example = finished.certificates[0]
            click.echo(f"证书查验  http://{host}:{port}/verify （例：证书编号 {example.number}，姓名 {example.name}）")
        click.echo(f"统计报表  http://{host}:{port}/reports/ （staff）")
    click.echo("")
    click.echo(f"准备用时 {ready:.1f} 秒。")
    if no_serve:
        return
    click.echo(f"考试服务运行于 http://{host}:{port} （Ctrl+C 停止）")
    # Scoring after 交卷, imports and exports run as jobs: the demo's one command starts their worker too.
    with worker_beside(current_app._get_current_object()):  # type: ignore[attr-defined]
        serve(host, port)


@click.command("demo-grading")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--candidates", default=4, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="只准备数据，不启动服务")
def demo_grading(host: str, port: int, candidates: int, no_serve: bool) -> None:
    """阅卷演示：清空数据库，建一场保安师（二级）笔试与论文答辩，考生已交卷，任务已分配，并启动服务。"""
    started = time.monotonic()
    url = current_app.config["DATABASE_URL"]
    click.echo(f"演示数据库: {url}（将被清空重建）")
    _reset_database(url)
    session = db.session
    seeded = seed_written_sitting(session, n_candidates=candidates, staff_password="demo",
                                  hash_profile=current_app.config.get("PASSWORD_HASH_PROFILE", "default"),
                                  code=f"L2-{utcnow():%Y%m%d}")
    for attempt_id in seeded.attempt_ids:
        sit_written(session, attempt_id)
    exam_session = session.get(ExamSession, seeded.exam_session_id)
    for i, candidate_id in enumerate(seeded.candidate_ids, start=1):
        text = (f"论小区物业保安服务质量的提升（第 {i} 篇）\n\n一、问题的提出\n……\n二、原因分析\n……\n"
                "三、对策\n……\n四、结论\n……").encode()
        submit_thesis(session, exam_session, candidate_id, f"论小区物业保安服务质量的提升（{i}）",
                      ("thesis.txt", "text/plain", text), ACTOR)
    staff = seeded.staff
    panel = create_panel(session, exam_session, "答辩第1组", [staff["chief"], staff["examiner1"], staff["examiner2"]],
                         staff["chief"], ACTOR)
    assign_panel(session, panel, [t.code for t in defence_tasks(session, exam_session)], ACTOR)
    assign_tasks(session, exam_session, [staff["grader1"], staff["grader2"]], ACTOR)
    click.echo(f"考试场次 {exam_session.code}：{candidates} 名考生已交卷，论文与答辩任务已生成并分配。"
               f"准备用时 {time.monotonic() - started:.1f} 秒。")
    click.echo(f"工作人员登录 http://{host}:{port}/staff/login  （密码均为 demo）")
    click.echo("  grader1 / grader2 阅卷员；chief 阅卷组长兼答辩组长；examiner1 / examiner2 答辩评委；staff 鉴定中心")
    if no_serve:
        return
    click.echo(f"考试服务运行于 http://{host}:{port} （Ctrl+C 停止）")
    serve(host, port)


commands = [demo, demo_grading]
