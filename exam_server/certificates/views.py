"""Certificate screens: centre staff list, issue (a job), print (one, or a batch as a job), revoke and reissue;
the holder sees and downloads theirs; anyone verifies one at /verify. Thin: parse, authorise, call, render.

URL table:
  GET  /certificates/                           certificates of the centre (?sitting=CODE)   centre_staff
  POST /certificates/sittings/<id>/issue        issue the sitting's certificates (a job)      centre_staff
  POST /certificates/sittings/<id>/pdf          the sitting's certificates as one PDF (a job)  centre_staff
  GET  /certificates/<id>                       a certificate, revoke / reissue forms          centre_staff
  GET  /certificates/<id>/pdf                   its PDF (?size=a4|cert)                         centre_staff
  POST /certificates/<id>/revoke                revoke with a reason                            centre_staff
  POST /certificates/<id>/reissue               reissue with a reason                           centre_staff
  GET  /certificates/mine                       the holder's certificates                       candidate
  GET  /certificates/mine/<id>.pdf              the holder's certificate as PDF                 candidate

The public verification page (/verify) is certificates/public.py.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.certificates import jobs as certificate_jobs
from exam_server.certificates import queries
from exam_server.certificates.models import INSTITUTION_TYPES, STATUS_LABELS, VALID, Certificate
from exam_server.certificates.numbering import CertificateError
from exam_server.certificates.operations import reissue, revoke
from exam_server.certificates.pdf import SIZES, certificates_pdf
from exam_server.certificates.verification import LEVEL_NAMES
from exam_server.core.auth import candidate_required, role_required
from exam_server.extensions import db
from exam_server.jobs import submit_job
from exam_server.organisations.scope import current_scope
from exam_server.sessions.models import ExamSession
from exam_server.sessions.operations import mask_id_number
from exam_server.sessions.sites import check_sitting

blueprint = Blueprint("certificates", __name__, url_prefix="/certificates")

STAFF = ("centre_staff",)
LIST_LIMIT = 2000


def _certificate(certificate_id: int) -> Certificate:
    cert = db.session.get(Certificate, certificate_id)
    if cert is None:
        abort(404)
    current_scope().check_centre(cert.centre_id, "证书")
    return cert


def _pdf(certs: list[Certificate], name: str, size: str) -> Response:
    if size not in SIZES:
        raise CertificateError(f"纸张规格无效：{size}")
    data = certificates_pdf(certs, certificate_jobs.verify_base(), size, queries.photos_of(db.session, certs))
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f"attachment; filename={name}.pdf"})


@blueprint.get("/")
@role_required(*STAFF)
def index() -> str:
    scope = current_scope()
    code = request.args.get("sitting", "").strip()
    sitting = queries.sitting_by_code(db.session, code) if code else None
    if code and sitting is None:
        flash(f"没有代码为 {code} 的考试场次。")
    if sitting is not None:
        check_sitting(scope, sitting)
    certs = queries.certificates(db.session, sitting_id=sitting.id if sitting else None,
                                 visible=scope.centre_clause(Certificate.centre_id), limit=LIST_LIMIT)
    sittings = db.session.query(ExamSession).filter(scope.centre_clause(ExamSession.centre_id)) \
        .order_by(ExamSession.starts_at.desc()).limit(50).all()
    return render_template("certificates/index.html", certs=certs, sitting=sitting, sittings=sittings,
                           level_names=LEVEL_NAMES, status_labels=STATUS_LABELS, sizes=SIZES, limit=LIST_LIMIT)


def _sitting(sitting_id: int) -> ExamSession:
    sitting = db.session.get(ExamSession, sitting_id)
    if sitting is None:
        abort(404)
    scope = current_scope()
    check_sitting(scope, sitting)
    scope.check_write()
    return sitting


@blueprint.post("/sittings/<int:sitting_id>/issue")
@role_required(*STAFF)
def issue(sitting_id: int) -> WerkzeugResponse:
    _sitting(sitting_id)
    job = submit_job(certificate_jobs.ISSUE, {"sitting_id": sitting_id}, actor=current_user.actor)
    return redirect(url_for("jobs.page", job_id=job.id))


@blueprint.post("/sittings/<int:sitting_id>/pdf")
@role_required(*STAFF)
def batch_pdf(sitting_id: int) -> WerkzeugResponse:
    _sitting(sitting_id)
    size = request.form.get("size", "a4")
    if size not in SIZES:
        raise CertificateError(f"纸张规格无效：{size}")
    job = submit_job(certificate_jobs.PDF, {"sitting_id": sitting_id, "size": size}, actor=current_user.actor)
    return redirect(url_for("jobs.page", job_id=job.id))


@blueprint.get("/<int:certificate_id>")
@role_required(*STAFF)
def detail(certificate_id: int) -> str:
    cert = _certificate(certificate_id)
    return render_template("certificates/detail.html", cert=cert, level_names=LEVEL_NAMES,
                           status_labels=STATUS_LABELS, sizes=SIZES, masked=mask_id_number(cert.id_number),
                           institution_types=INSTITUTION_TYPES)


@blueprint.get("/<int:certificate_id>/pdf")
@role_required(*STAFF)
def pdf(certificate_id: int) -> Response:
    cert = _certificate(certificate_id)
    return _pdf([cert], f"certificate-{cert.number}", request.args.get("size", "a4"))


@blueprint.post("/<int:certificate_id>/revoke")
@role_required(*STAFF)
def revoke_view(certificate_id: int) -> WerkzeugResponse:
    cert = _certificate(certificate_id)
    current_scope().check_write()
    revoke(db.session, cert.id, request.form.get("reason", ""), current_user.actor)
    flash(f"证书 {cert.number} 已撤销。")
    return redirect(url_for("certificates.detail", certificate_id=cert.id))


@blueprint.post("/<int:certificate_id>/reissue")
@role_required(*STAFF)
def reissue_view(certificate_id: int) -> WerkzeugResponse:
    cert = _certificate(certificate_id)
    current_scope().check_write()
    new = reissue(db.session, cert.id, request.form.get("reason", ""), current_user.actor)
    flash(f"已补发新证书 {new.number}，原证书 {cert.number} 作废。")
    return redirect(url_for("certificates.detail", certificate_id=new.id))


@blueprint.get("/mine")
@candidate_required
def mine() -> str:
    certs = queries.of_holder(db.session, current_user.candidate_id)
    return render_template("certificates/mine.html", certs=certs, level_names=LEVEL_NAMES,
                           status_labels=STATUS_LABELS, valid=VALID)


@blueprint.get("/mine/<int:certificate_id>.pdf")
@candidate_required
def my_pdf(certificate_id: int) -> Response:
    cert = db.session.get(Certificate, certificate_id)
    if cert is None or cert.candidate_id != current_user.candidate_id or cert.status != VALID:
        abort(404)
    return _pdf([cert], f"certificate-{cert.number}", request.args.get("size", "a4"))
