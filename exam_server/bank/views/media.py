"""Images (图片): uploaded once by content hash, served to staff screens."""

from __future__ import annotations

from pathlib import Path

from flask import current_app, jsonify, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from exam_server.bank import operations as ops
from exam_server.bank.views.common import AUTHORS, BANK, found, json_refusal
from exam_server.core.auth import role_required
from exam_server.extensions import db
from item_bank.media import MediaError, get_media


@role_required(*AUTHORS)
def upload() -> tuple[WerkzeugResponse, int]:
    file = request.files.get("file")
    if file is None or not file.filename:
        return json_refusal("请选择图片文件", 400)
    try:
        ref = ops.upload_media(db.session, Path(file.filename).name, file.read())
    except MediaError as exc:
        return json_refusal(str(exc), 400)
    return jsonify({"ok": True, **ref, "url": url_for("bank.media", digest=ref["sha256"])}), 201


@role_required(*BANK)
def media(digest: str) -> WerkzeugResponse:
    stored = found(get_media(db.session, digest))
    response = current_app.response_class(stored.data, mimetype=stored.mime)
    response.headers["Cache-Control"] = "private, max-age=86400, immutable"
    return response
