"""The public verification page (证书查询), open to anyone: by number and name, or by the code a certificate's
QR code carries. Its own blueprint ("verify", no prefix) so the URL is short enough to print.

  GET  /verify                  verify by number and name (?number=&name=; &format=json for JSON)   anyone
  GET  /verify/<code>           verify by the QR code's code                                        anyone

Rate-limited per client address (certificates/verification.py); the answer while waiting is 429.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue

from exam_server.certificates.verification import UNKNOWN, verify
from exam_server.extensions import db

blueprint = Blueprint("verify", __name__)


def _verify_page(**query: str) -> ResponseReturnValue:
    asked = any(query.values())
    answer, wait = verify(db.session, request.remote_addr or "-", **query) if asked else (UNKNOWN, 0)
    status = 429 if wait else 200
    if request.args.get("format") == "json":
        body = {**answer.as_dict(), "wait_s": wait} if asked else {"status": "", "wait_s": 0}
        return body, status
    return render_template("certificates/verify.html", answer=answer if asked else None, wait=wait,
                           number=query.get("number", ""), name=query.get("name", "")), status


@blueprint.get("/verify")
def form() -> ResponseReturnValue:
    return _verify_page(number=request.args.get("number", "")[:40], name=request.args.get("name", "")[:60])


@blueprint.get("/verify/<code>")
def by_code(code: str) -> ResponseReturnValue:
    return _verify_page(code=code[:40])
