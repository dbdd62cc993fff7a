"""The top navigation: what each kind of user can reach, in the order they use it."""

from __future__ import annotations

from typing import Any

from flask import current_app, request, url_for
from flask_login import current_user

# (label, endpoint, roles allowed); admin sees everything.
STAFF_NAV: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("考试场次", "staff.sessions", ("centre_staff", "province", "police")),
    ("考点考场", "sessions.sites", ("centre_staff", "province", "police")),
    ("编排考试", "sessions.sittings", ("centre_staff", "province")),
    ("机构", "organisations.index", ("centre_staff", "pilot_unit", "province", "police")),
    ("鉴定申请", "applications.index", ("pilot_unit", "centre_staff", "province", "police")),
    ("申报时间", "applications.windows", ("province",)),
    ("监考台", "proctoring.console", ("proctor", "centre_staff")),
    ("试题", "bank.items", ("author", "reviewer", "bank_manager")),
    ("审题", "bank.review_queue", ("reviewer", "bank_manager")),
    ("知识点", "bank.tree", ("bank_manager",)),
    ("题库覆盖", "bank.coverage_page", ("bank_manager",)),
    ("导入导出", "bank.exchange", ("bank_manager",)),
    ("组卷蓝图", "assembly.blueprints", ("bank_manager",)),
    ("试卷", "assembly.forms", ("bank_manager",)),
    ("试题分析", "analysis.index", ("bank_manager", "centre_staff")),
    ("阅卷", "grading.queue", ("grader",)),
    ("阅卷监控", "grading.monitor", ("chief_grader",)),
    ("复核申请", "results.reviews", ("centre_staff",)),
    ("证书", "certificates.index", ("centre_staff",)),
    ("操作技能", "skills.sittings", ("centre_staff",)),
    ("考站评分", "skills.examine", ("grader", "chief_grader")),
    ("统计报表", "reports.index", ("centre_staff", "province", "police")),
    ("考生登录限制", "proctor_logins.index", ("proctor", "centre_staff")),
    ("登录限制", "accounts.login_delays", ("centre_staff",)),
    ("账号管理", "accounts.users", ("admin",)),
    ("审计日志", "ops.audit_log", ("centre_staff",)),
    ("考点数据包", "sitenode.exports", ("centre_staff",)),
    ("导入数据包", "sitenode.import_page", ("centre_staff",)),
    ("试卷解封", "sitenode.unseal_page", ("proctor", "centre_staff")),
    ("入场核验", "sitenode.rosters", ("proctor", "centre_staff")),
    ("节点密钥", "sitenode.keys_page", ("centre_staff",)),
    ("成绩数据包", "siteresults.page", ("centre_staff",)),
)
CANDIDATE_NAV = (("考试", "delivery.exam_page"), ("准考证", "sessions.my_ticket"), ("我的成绩", "results.mine"),
                 ("我的证书", "certificates.mine"))


def navigation() -> list[dict[str, Any]]:
    """The links the logged-in user may follow, with the current one marked."""
    if not current_user.is_authenticated:
        return []
    views = current_app.view_functions
    # A test site's node serves none of the centre's screens, and the centre needs no site's (sitenode/roles.py).
    hides = current_app.extensions.get("node_hides", lambda _endpoint: False)
    views = {endpoint: view for endpoint, view in views.items() if not hides(endpoint)}
    if current_user.is_candidate:
        entries = [(label, endpoint) for label, endpoint in CANDIDATE_NAV if endpoint in views]
    else:
        entries = [
            (label, endpoint) for label, endpoint, roles in STAFF_NAV
            if endpoint in views and current_user.has_role(*roles)
        ]
    return [
        {"label": label, "url": url_for(endpoint), "active": request.endpoint == endpoint}
        for label, endpoint in entries
    ]
