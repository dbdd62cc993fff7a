"""The replication feed a site's server serves to its warm standby (sitenode/replication.py), and the standby's guard.

URL table (no person uses these: every request is signed with the site's node key, which the standby machine holds
as the site's second server; a candidate, a proctor, an admin or anyone else without it is refused):
  GET /site-node/replication/feed?after=&audit=&generation=&d_ticket=&d_user=   what the standby lacks (JSON)
  GET /site-node/replication/snapshot                                          a whole consistent copy (SQLite)

A machine that is following (`examctl standby follow`) and not yet promoted refuses every request with 503: a
standby started as a server by mistake never serves candidates beside the primary.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
import time
from pathlib import Path

from flask import Blueprint, Response, current_app, request
from flask.typing import ResponseReturnValue

from exam_server.core import signing
from exam_server.core.errors import refusal_response
from exam_server.extensions import csrf, db
from exam_server.sitenode import replication, standby

blueprint = Blueprint("replication", __name__, url_prefix="/site-node/replication")


def _check_signed() -> None:
    """Refused (ReplicationError, 401/403) unless the request is signed with this site's node key."""
    try:
        keys = [signing.load_public_key(signing.node_folder())]
    except signing.SigningError as exc:
        raise replication.ReplicationError("本机没有节点密钥，不能提供复制数据", code="no_node_key", status=403) from exc
    path = request.path + (f"?{request.query_string.decode()}" if request.query_string else "")
    replication.check_request(keys, request.headers.get(replication.SIGNATURE_HEADER), request.method, path,
                              time.time())


@blueprint.get("/feed")
@csrf.exempt
def feed() -> ResponseReturnValue:
    _check_signed()
    args = request.args
    body = replication.build_feed(
        db.session, after_event=args.get("after", 0, type=int), after_audit=args.get("audit", 0, type=int),
        generation_seen=args.get("generation") or None,
        digests={name: args.get(f"d_{name}", "") for name in replication.MIRRORED})
    data = gzip.compress(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(), compresslevel=1)
    return Response(data, mimetype="application/json", headers={"Content-Encoding": "gzip"})


def _database_file() -> Path:
    url = db.engine.url
    if url.get_backend_name() != "sqlite" or not url.database:
        raise replication.ReplicationError("只有 SQLite 数据库的考点服务器提供整库副本", code="not_sqlite")
    return Path(url.database)


def _copy(database: Path) -> bytes:
    """The gzip-compressed whole copy of `database`, made in a temporary file beside it."""
    handle, name = tempfile.mkstemp(prefix="snapshot-", suffix=".db", dir=database.parent)
    os.close(handle)
    target = Path(name)
    try:
        replication.snapshot(database, target)
        return gzip.compress(target.read_bytes(), compresslevel=1)
    finally:
        target.unlink(missing_ok=True)


def _in_thread(database: Path) -> bytes:
    # The backup and the compression are long C calls: under gevent (the server) they run in a real thread, so the
    # candidates' sockets go on meanwhile.
    from gevent import get_hub
    from gevent.monkey import is_module_patched

    if is_module_patched("threading"):
        return bytes(get_hub().threadpool.apply(_copy, (database,)))
    return _copy(database)


@blueprint.get("/snapshot")
@csrf.exempt
def snapshot() -> ResponseReturnValue:
    _check_signed()
    data = _in_thread(_database_file())
    return Response(data, mimetype="application/octet-stream", headers={"Content-Encoding": "gzip"})


@blueprint.before_app_request
def _refuse_while_following() -> ResponseReturnValue | None:
    if standby.following(current_app):
        return refusal_response("standby", "本机是考点的备用服务器，正在跟随主服务器，尚未接替，不提供服务。", 503)
    return None
