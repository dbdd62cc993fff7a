"""The site's warm standby machine: following the primary's feed, its state on disk, and promotion.

The state lives in `standby.json` in the node's key folder (NODE_KEY_DIR, else the instance folder), beside the
site's node key the standby holds as the site's second server: what it follows, how far it is, whether it was
promoted. A machine whose state says "following" serves nothing (replication_views.py); `examctl standby promote`
ends the following and records the promotion (with an epoch one above the primary's), after which `examctl run
--role site` serves the site from this machine.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import signal
import sqlite3
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from exam_server.core import signing
from exam_server.delivery.clock import give_back_outage
from exam_server.delivery.models import AttemptEvent
from exam_server.extensions import db
from exam_server.sitenode import replication
from item_bank.kernel import system_actor

STATE_FILE = "standby.json"
FOLLOWING, PROMOTED = "following", "promoted"
# Who gives the outage back, in the attempts' logs and the proctor's console.
OUTAGE_ACTOR = system_actor("standby")
_CACHE = "sitenode.standby_state"


def state_path(app: Flask) -> Path:
    return signing.key_dir(app.config, app.instance_path) / STATE_FILE


def read_state(app: Flask) -> dict[str, Any]:
    try:
        return dict(json.loads(state_path(app).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def write_state(app: Flask, state: dict[str, Any]) -> None:
    path = state_path(app)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(temporary, path)  # a status command never reads half a file


def following(app: Flask) -> bool:
    """True when this machine is a standby that has not been promoted (read once per process)."""
    cached = app.extensions.get(_CACHE)
    if cached is None:
        cached = app.extensions[_CACHE] = read_state(app).get("state") == FOLLOWING
    return bool(cached)


class PrimaryUnreachable(Exception):
    """The primary did not answer (down, or the network between the two machines)."""


@dataclass
class Primary:
    """The primary's server as the standby asks it: signed GETs under the site's node key."""

    url: str
    private_key: Any
    timeout: float = 10.0

    def get(self, path: str, params: dict[str, Any] | None = None) -> bytes:
        query = urllib.parse.urlencode(params or {})
        full = path + (f"?{query}" if query else "")
        header = replication.sign_request(self.private_key, "GET", full, int(time.time()))
        request = urllib.request.Request(self.url.rstrip("/") + full,
                                         headers={replication.SIGNATURE_HEADER: header, "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                data = answer.read()
                return gzip.decompress(data) if answer.headers.get("Content-Encoding") == "gzip" else data
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("message") or str(exc)
            except ValueError:
                message = str(exc)
            raise replication.ReplicationError(f"主服务器拒绝了备机的请求（HTTP {exc.code}）：{message}",
                                               code="refused", status=exc.code) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise PrimaryUnreachable(str(exc)) from exc


def install_snapshot(app: Flask, data: bytes, dispose: Callable[[], None]) -> Path:
    """Replace this machine's SQLite database with the primary's copy `data` (checked before it replaces)."""
    url = db.engine.url
    if url.get_backend_name() != "sqlite" or not url.database:
        raise replication.ReplicationError("备机的数据库必须是 SQLite 文件（DATABASE_URL=sqlite:///…）", code="not_sqlite")
    target = Path(url.database)
    incoming = target.with_name(target.name + ".incoming")
    incoming.write_bytes(data)
    check = sqlite3.connect(str(incoming))
    try:
        result = check.execute("PRAGMA quick_check").fetchone()
    finally:
        check.close()
    if not result or result[0] != "ok":
        incoming.unlink(missing_ok=True)
        raise replication.ReplicationError("主服务器发来的整库副本已损坏", code="bad_snapshot")
    dispose()
    for suffix in ("-wal", "-shm"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    os.replace(incoming, target)
    return target


@dataclass
class Follower:
    """One standby's following: each `pull` asks for what it lacks and applies it until nothing more comes."""

    app: Flask
    session: Session
    primary: Primary
    generation: str | None = None
    digests: dict[str, str] | None = None

    def _snapshot(self) -> None:
        data = self.primary.get("/site-node/replication/snapshot")
        self.session.close()
        install_snapshot(self.app, data, db.engine.dispose)
        self.generation = replication.generation(self.session)
        self.digests = replication.table_digests(self.session)
        self.session.rollback()

    def pull(self) -> dict[str, Any]:
        """Bring this machine up to the primary's newest event; returns what the last answer said."""
        if self.generation is None:
            # Following begins from a whole copy: whatever this machine held may be of another day or generation.
            self._snapshot()
        totals = {"events": 0, "answers": 0, "audit": 0, "snapshots": 0, "bytes": 0, "apply_s": 0.0}
        while True:
            after_event, after_audit = replication.cursors(self.session)
            params = {"after": after_event, "audit": after_audit, "generation": self.generation or ""}
            params.update({f"d_{name}": digest for name, digest in (self.digests or {}).items()})
            raw = self.primary.get("/site-node/replication/feed", params)
            totals["bytes"] += len(raw)
            feed = json.loads(raw)
            began = time.perf_counter()
            applied = replication.apply_feed(self.session, feed)
            totals["apply_s"] += time.perf_counter() - began
            if applied.needs_snapshot:
                if totals["snapshots"]:
                    raise replication.ReplicationError(f"取整库副本后仍不一致：{applied.needs_snapshot}",
                                                       code="no_progress")
                self._snapshot()
                totals["snapshots"] += 1
                continue
            totals["events"] += applied.events
            totals["answers"] += applied.answers
            totals["audit"] += applied.audit
            if applied.last_event:
                totals["last_event"] = applied.last_event
            self.digests = {name: body["digest"] for name, body in (feed.get("tables") or {}).items()}
            totals["head_event_id"] = feed.get("head_event_id", 0)
            totals["primary_time"] = feed.get("primary_time")
            if not feed.get("more"):
                return totals


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def local_position(session: Session) -> dict[str, Any]:
    """This machine's newest event: its id, kind and time."""
    row = session.execute(select(AttemptEvent.id, AttemptEvent.kind, AttemptEvent.at)
                          .order_by(AttemptEvent.id.desc()).limit(1)).first()
    session.rollback()
    return {"id": row.id, "kind": row.kind, "at": row.at.isoformat()} if row else {"id": 0}


def follow(app: Flask, session: Session, primary_url: str, *, interval: float = 1.0,
           say: Callable[[str], None] = print, once: bool = False) -> None:
    """Follow the primary until SIGTERM/SIGINT (or `examctl standby promote`): pull about every `interval`
    seconds, keep the state file current, report changes of reachability on `say`."""
    state = read_state(app)
    if state.get("state") == PROMOTED:
        raise replication.ReplicationError("本机已经接替为考点服务器（已提升），不能再跟随其他服务器", code="promoted")
    primary = Primary(primary_url, signing.load_private_key(signing.key_dir(app.config, app.instance_path)),
                      timeout=max(2.0, interval * 5))
    follower = Follower(app, session, primary)
    stopping = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.append(True))
    state = {"state": FOLLOWING, "primary": primary_url, "pid": os.getpid(), "started_at": _now(),
             "epoch": int(state.get("epoch") or 0)}
    write_state(app, state)
    reachable: bool | None = None
    while not stopping:
        began = time.monotonic()
        try:
            totals = follower.pull()
        except PrimaryUnreachable as exc:
            if reachable is not False:
                say(f"{_now()} 主服务器无法连接：{exc}")
            reachable = False
            state.update(last_error=str(exc), last_error_at=_now())
        else:
            if reachable is not True:
                say(f"{_now()} 已连接主服务器 {primary_url}，正在跟随")
            reachable = True
            position = local_position(session)
            state.update(last_ok_at=_now(), primary_time=totals.get("primary_time"), local=position,
                         lag_events=max(0, int(totals.get("head_event_id") or 0) - int(position.get("id") or 0)),
                         last_pull={k: totals[k] for k in ("events", "answers", "audit", "snapshots", "bytes")}
                         | {"apply_ms": round(totals["apply_s"] * 1000, 1)}, last_error=None)
        state["pid"] = os.getpid()
        write_state(app, state)
        if once:
            break
        # In slices: a SIGTERM (promotion) is acted on within 50 ms, not after the rest of the interval.
        while not stopping and time.monotonic() - began < interval:
            time.sleep(0.05)
    state.update(stopped_at=_now(), pid=None)
    write_state(app, state)


def _alive(pid: int) -> bool:
    """True while process `pid` runs (an exited one its parent has not yet reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def promote(app: Flask, session: Session, *, wait_s: float = 15.0, last_pull: bool = True,
            say: Callable[[str], None] = print) -> dict[str, Any]:
    """End the following (the follower process is asked to stop and waited for), take whatever the primary can
    still give (it is usually dead: two seconds at most), and record this machine as the site's server."""
    state = read_state(app)
    if state.get("state") == PROMOTED:
        say("本机已经接替过（已提升），无需再次操作")
        return state
    if state.get("state") != FOLLOWING:
        raise replication.ReplicationError("本机不是正在跟随主服务器的备机（没有 standby.json）", code="not_standby")
    pid = state.get("pid")
    if pid:
        try:
            os.kill(int(pid), signal.SIGTERM)
        except ProcessLookupError:
            pid = None
        deadline = time.monotonic() + wait_s
        while pid and time.monotonic() < deadline:
            if not _alive(int(pid)):
                break
            time.sleep(0.05)
        else:
            if pid:
                raise replication.ReplicationError(f"跟随进程 {pid} 在 {wait_s:.0f} 秒内没有退出", code="still_following")
    state = read_state(app)
    if last_pull and state.get("primary"):
        primary = Primary(str(state["primary"]), signing.load_private_key(signing.key_dir(app.config,
                                                                                           app.instance_path)),
                          timeout=2.0)
        try:
            totals = Follower(app, session, primary).pull()
            say(f"已从主服务器取得最后的 {totals['events']} 个事件")
        except PrimaryUnreachable:
            say("主服务器已无法连接：以本机已有的数据接替")
    # The candidates' clocks ran on while no server answered them: from the primary's last answer to now is given
    # back to everyone answering (the proctor adds more with 延时 where the rules say so).
    given, attempts = 0, []
    if state.get("last_ok_at"):
        since = dt.datetime.fromisoformat(str(state["last_ok_at"]))
        given, attempts = give_back_outage(session, since if since.tzinfo else since.replace(tzinfo=dt.UTC),
                                           OUTAGE_ACTOR, "考点服务器故障，备机接替，补回中断时间")
        if attempts:
            say(f"已为 {len(attempts)} 名正在答题的考生补回中断的 {given} 秒（自主服务器最后一次应答起）")
    position = local_position(session)
    state.update(state=PROMOTED, promoted_at=_now(), epoch=int(state.get("epoch") or 0) + 1, local=position,
                 pid=None, outage_given_s=given, outage_attempts=len(attempts))
    write_state(app, state)
    return state
