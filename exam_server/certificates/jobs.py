"""Background jobs of certificates: issuing a sitting's batch and printing a batch PDF run in the worker.

- "certificates.issue" (params: sitting_id): a certificate for every passed, released level outcome of the
  sitting's candidates that has none yet (operations.issue_for_sitting).
- "certificates.pdf" (params: sitting_id, size "a4" | "cert"): the sitting's valid certificates as one PDF.
"""

from __future__ import annotations

import os
from typing import Any

from flask import current_app, has_request_context, request

from exam_server.certificates import queries
from exam_server.certificates.models import VALID
from exam_server.certificates.numbering import CertificateError
from exam_server.certificates.operations import issue_for_sitting
from exam_server.certificates.pdf import SIZES, certificates_pdf
from exam_server.jobs import JobContext, job_handler
from exam_server.sessions.models import ExamSession

ISSUE = "certificates.issue"
PDF = "certificates.pdf"
ROLES = ("centre_staff",)
MAX_LINES = 30


def verify_base() -> str:
    """The verification URL a QR code carries, before the code: the server's public address (PUBLIC_BASE_URL in
    the configuration or EXAM_PUBLIC_URL in the environment; in a request, the address it came to)."""
    base = current_app.config.get("PUBLIC_BASE_URL") or os.environ.get("EXAM_PUBLIC_URL")
    if not base:
        base = request.host_url if has_request_context() else "http://localhost:5000/"
    return base.rstrip("/") + "/verify/"


def _sitting(ctx: JobContext, sitting_id: int) -> ExamSession:
    sitting = ctx.session.get(ExamSession, sitting_id)
    if sitting is None:
        raise CertificateError(f"考试场次 {sitting_id} 不存在。", status=404)
    return sitting


def _back() -> dict[str, Any]:
    return {"endpoint": "certificates.index", "values": {}, "text": "返回证书列表"}


@job_handler(ISSUE, label="发放证书", roles=ROLES)
def issue_job(ctx: JobContext, *, sitting_id: int) -> dict[str, Any]:
    code = _sitting(ctx, sitting_id).code
    ctx.progress(0.05, "正在读取合格的等级结果")
    made = issue_for_sitting(ctx.session, sitting_id, ctx.actor,
                             progress=lambda done, total: ctx.progress(0.1 + 0.9 * done / max(total, 1),
                                                                       f"已编号 {done}/{total}"))
    ctx.progress(1.0, "发证完成")
    lines = [f"考试场次 {code}：新发证书 {len(made)} 本。"]
    lines += [f"{c.number} {c.name}" for c in made[:MAX_LINES]]
    return {"lines": lines, "issued": len(made), "link": _back()}


@job_handler(PDF, label="打印证书", roles=ROLES)
def pdf_job(ctx: JobContext, *, sitting_id: int, size: str = "a4") -> dict[str, Any]:
    if size not in SIZES:
        raise CertificateError(f"纸张规格无效：{size}")
    code = _sitting(ctx, sitting_id).code
    ctx.progress(0.05, "正在读取证书")
    certs = [c for c in queries.certificates(ctx.session, sitting_id=sitting_id) if c.status == VALID]
    photos = queries.photos_of(ctx.session, certs)
    ctx.session.commit()  # reading done: hold no snapshot while drawing
    ctx.progress(0.2, f"正在生成 {len(certs)} 本证书的 PDF")
    data = certificates_pdf(certs, verify_base(), size, photos)
    ctx.output(f"证书_{code}_{size}.pdf").write_bytes(data)
    ctx.progress(1.0, "完成")
    return {"lines": [f"考试场次 {code}：{len(certs)} 本证书（{SIZES[size]}）。"], "count": len(certs), "link": _back()}
