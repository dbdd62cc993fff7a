"""The /exam Socket.IO namespace: the candidate's wire protocol (DESIGN.md §7).

Every event is authorised like an HTTP request: the connection carries the login session, and
each event is checked against the candidate's own attempt before anything is done.
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from flask import current_app, request
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, join_room

from exam_server.core import logs
from exam_server.core.database import DatabaseUnavailable, database_unavailable
from exam_server.core.errors import socket_ack
from exam_server.delivery import sockets, steps
from exam_server.delivery.clock import remaining_seconds
from exam_server.delivery.errors import MESSAGES, DeliveryError
from exam_server.delivery.gate import CostGate
from exam_server.delivery.limits import MAX_PAYLOAD_CHARS, is_id, size_of
from exam_server.delivery.models import IN_PROGRESS, Attempt
from exam_server.delivery.notify import EXAM_NS, attempt_room, push_attempt_state, push_seat, push_state
from exam_server.delivery.paper import state_paper_json
from exam_server.delivery.queries import attempt_state
from exam_server.extensions import db, socketio
from item_bank.db import waited_for_writes

# Per connection (sid): who is connected and from which workstation. With several processes a
# reverse proxy keeps each browser on one process (sticky sessions), so this stays local.
_connections: dict[str, dict[str, Any]] = {}


log = logging.getLogger(__name__)

# What a whole room does at once (everyone pressing 开始考试 and fetching the paper, everyone reconnecting
# after a server restart) passes this gate by cost (delivery/gate.py), so an answer saved meanwhile waits for
# at most BURST_BUDGET_S of that work. The first estimates are benchmarks/join_cost.py's figures; the gate
# replaces them with what it measures.
BURST_BUDGET_S = 0.02
# A request's wait for SQLite's write lock or its group commit is not its cost: it holds no CPU meanwhile.
burst_gate = CostGate(BURST_BUDGET_S, {"connect": 0.002, "join": 0.004, "start": 0.006, "paper": 0.006},
                      idle=waited_for_writes)


def _socket_gone() -> bool:
    """The client gave up on this socket while its request waited at the gate (its connection closed): the
    request is not worth doing. A reconnect that waited too long is abandoned by its client, which opens
    another; serving the abandoned one too would double a restart's storm (and take a socket slot for it)."""
    return socketio.server.get_environ(request.sid, namespace=EXAM_NS) is None  # type: ignore[attr-defined]


# With several processes behind one Redis message queue, a proctor on one process must see the
# candidates whose sockets another process holds: each process publishes its attempt ids under its
# own key with a short expiry (a killed process drops out by itself), and the seat map reads them all.
PRESENCE_PREFIX = "exam:presence:"
PRESENCE_EVERY_S = 5.0
_presence: dict[str, Any] = {"key": PRESENCE_PREFIX + uuid.uuid4().hex, "redis": None, "started": False}


def _local_attempt_ids() -> set[int]:
    return {conn["attempt_id"] for conn in list(_connections.values()) if conn.get("attempt_id")}


def _presence_store() -> Any:
    """The Redis client of the message queue, or None for a single process."""
    url = current_app.config.get("SOCKETIO_MESSAGE_QUEUE") or ""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    if _presence["redis"] is None:
        import redis  # only a multi-process set-up has a Redis queue; one process never loads the client

        _presence["redis"] = redis.Redis.from_url(url, socket_timeout=2)
    return _presence["redis"]


def _slot_member(sid: str) -> str:
    """A socket's name in the candidates' socket slots: unique across processes."""
    return f"{_presence['key']}:{sid}"


def _publish_presence_forever(store: Any) -> None:
    while True:
        try:
            # The same key keeps this process's socket slots alive (a killed process's slots go with it).
            store.set(_presence["key"], json.dumps(sorted(_local_attempt_ids())), ex=int(sockets.SLOT_TTL_S))
            sockets.give_back_unreleased(store)
        except Exception:  # Redis away for a moment: the next round publishes again
            log.warning("could not publish socket presence", exc_info=True)
        socketio.sleep(PRESENCE_EVERY_S)


def _start_presence() -> None:
    if not _presence["started"] and _presence_store() is not None:
        _presence["started"] = True
        socketio.start_background_task(_publish_presence_forever, _presence_store())


def connected_attempt_ids() -> set[int]:
    """Attempts that have a live /exam socket in this process or, with a Redis queue, in any process."""
    ids = _local_attempt_ids()
    store = _presence_store()
    if store is not None:
        try:
            keys = list(store.scan_iter(match=PRESENCE_PREFIX + "*", count=100))
            for raw in store.mget(keys) if keys else []:
                ids.update(json.loads(raw or "[]"))
        except Exception:  # the seat map still shows this process's own sockets
            log.warning("could not read socket presence", exc_info=True)
    return ids


def _candidate_id() -> int | None:
    conn = _connections.get(request.sid)  # type: ignore[attr-defined]
    return conn["candidate_id"] if conn else None


def _workstation() -> str | None:
    conn = _connections.get(request.sid)  # type: ignore[attr-defined]
    return conn.get("workstation") if conn else None


def _actor() -> str:
    """The audit name of the connected candidate, kept from the connect (no ticket lookup per event)."""
    conn = _connections.get(request.sid)  # type: ignore[attr-defined]
    return str(conn["actor"]) if conn else steps.CANDIDATE


def _arg(data: Any, name: str) -> Any:
    return data.get(name) if isinstance(data, dict) else None


def _own_attempt(data: Any) -> Attempt | None:
    """The attempt named in `data` if it is the connected candidate's own, else None."""
    candidate_id = _candidate_id()
    attempt_id = _arg(data, "attempt_id")
    attempt = db.session.get(Attempt, attempt_id) if is_id(attempt_id) else None
    if candidate_id is None or attempt is None or attempt.candidate_id != candidate_id:
        return None
    return attempt


Step = Callable[[int, Any], dict[str, Any]]


def _logged(event: str, handler: Callable[[Any], dict[str, Any]]) -> Callable[[Any], dict[str, Any]]:
    """A candidate's event under a request id of its own, its attempt and ticket, ending in one log line."""

    @functools.wraps(handler)
    def run(data: Any = None) -> dict[str, Any]:
        attempt_id = _arg(data, "attempt_id")
        conn = _connections.get(request.sid) or {}  # type: ignore[attr-defined]
        with logs.bound(request_id=logs.new_request_id(), event=event, ticket=conn.get("ticket"),
                        attempt_id=attempt_id if isinstance(attempt_id, int) else None):
            ack = handler(data)
            log.info("%s %s", event, "ok" if ack.get("ok") else f"refused: {ack.get('error')}")
            return ack

    return run


def _too_large(data: Any) -> bool:
    """An event payload beyond what any step needs: refused before it is looked at (the count stops at the cap)."""
    return size_of(data, MAX_PAYLOAD_CHARS) > MAX_PAYLOAD_CHARS


def _candidate_step(step: Step, event: str | None = None) -> Callable[[Any], dict[str, Any]]:
    """An /exam event of the connected candidate (refused without one), run again if the database connection
    had died; a refusal is rolled back and becomes the acknowledgement. Its log line names `event` (by default the
    step's name without `on_`)."""

    @functools.wraps(step)
    def handler(data: Any = None) -> dict[str, Any]:  # a client may send an event with no payload
        candidate_id = _candidate_id()
        if candidate_id is None:
            return socket_ack(DeliveryError("not_your_attempt"))
        if _too_large(data):
            return socket_ack(DeliveryError("payload_too_large"))
        try:
            return step(candidate_id, data)
        except DeliveryError as exc:
            db.session.rollback()
            return socket_ack(exc)

    return _logged(event or step.__name__.removeprefix("on_"), db.once_more_after_disconnect(handler))


# The event a connect that carried a join (`auth={"join": {...}}`) answers it with: the join's acknowledgement.
JOINED = "joined"


@socketio.on("connect", namespace=EXAM_NS)
@db.patient  # a refused connect is never retried by the browser: wait for the database instead
@db.once_more_after_disconnect
def on_connect(auth: Any = None) -> bool:
    """A candidate's socket. A reconnect may carry its join (`auth={"join": <join's payload>}`): the join is answered
    with a `joined` event sent ahead of the connect's own packet (a client holds events until its connect), so a
    whole centre coming back after a restart sends one message each instead of two: no join event to read, no second
    request context, dispatch or acknowledgement (issue 17). Anything the join refuses comes in that event too."""
    if not _connect():
        return False
    join = _arg(auth, "join")
    if join is not None:
        sid = request.sid  # type: ignore[attr-defined]
        try:
            ack = _join_with_connect(join)
        except Exception:
            _forget_socket(sid)  # the connect is refused after all (the database went away): its slot is given back
            raise
        # Only to this socket, and from this process (with a message queue, `emit` would go round through Redis).
        socketio.server.emit(JOINED, ack, to=sid, namespace=EXAM_NS, ignore_queue=True)
    return True


def _connect() -> bool:
    """The connect's own checks: a candidate's session and a free socket slot, which it takes."""
    with burst_gate.admit("connect"):
        if _socket_gone():
            return False
        user = current_user._get_current_object()  # type: ignore[attr-defined]  # once, not through the proxy each time
        if not user.is_authenticated or not user.is_candidate:
            return False  # refused: no candidate session
        cap = int(current_app.config.get("MAX_SOCKETS_PER_CANDIDATE") or 0)
        if not sockets.take(_presence_store(), user.candidate_id, _slot_member(request.sid), cap):  # type: ignore[attr-defined]
            # The page shows the reason (socket.io-client's connect_error carries it as err.data).
            raise ConnectionRefusedError(MESSAGES["too_many_sockets"], {
                "ok": False, "error": "too_many_sockets", "message": MESSAGES["too_many_sockets"]})
        _connections[request.sid] = {"candidate_id": user.candidate_id, "ticket_id": user.ticket_id,  # type: ignore[attr-defined]
                                     "actor": user.actor, "ticket": user.number}
    _start_presence()
    return True


@socketio.on_error(EXAM_NS)
def on_exam_error(exc: Exception) -> Any:
    """An event that could not reach the database stored nothing: its acknowledgement says so, and the
    exam page sends it again (same key) a moment later. Any other error propagates as before."""
    if not database_unavailable(exc):
        raise exc
    event = request.event["message"]  # type: ignore[attr-defined]
    log.warning("database out of reach during %s: %s", event, str(exc).splitlines()[0][:200])
    db.forget_connection()
    if event == "connect":
        return False
    return socket_ack(DatabaseUnavailable())


def _forget_socket(sid: str) -> dict[str, Any] | None:
    """Drop a socket's connection record and give back its slot; the record, if there was one."""
    conn = _connections.pop(sid, None)
    if conn:
        sockets.give_back(_presence_store(), conn["candidate_id"], _slot_member(sid))
    return conn


@socketio.on("disconnect", namespace=EXAM_NS)
def on_disconnect(*_args: Any) -> None:
    conn = _forget_socket(request.sid)  # type: ignore[attr-defined]
    if conn and conn.get("attempt_id"):
        state = attempt_state(db.session, conn["attempt_id"])
        if state is not None:
            push_seat(state)


@socketio.on("join", namespace=EXAM_NS)
@_candidate_step
def on_join(candidate_id: int, data: Any) -> dict[str, Any]:
    return _join(candidate_id, data)


def _join(candidate_id: int, data: Any) -> dict[str, Any]:
    attempt_id = _arg(data, "attempt_id")
    # A join without a workstation name is this socket's own; any other value must be a valid name (steps.join).
    workstation = _arg(data, "workstation")
    if workstation is None or workstation == "":
        workstation = request.sid  # type: ignore[attr-defined]
    try:
        with burst_gate.admit("join"):
            if _socket_gone():
                return {"ok": False, "error": "gone"}  # nobody reads it
            body, state, seat_changed = steps.join(db.session, attempt_id, workstation, _actor(),
                                                   candidate_id=candidate_id, seen_seq=_arg(data, "seen_seq"))
    except DeliveryError as exc:
        db.session.rollback()
        if exc.code != "not_your_attempt":  # the proctor sees the held workstation
            held = attempt_state(db.session, attempt_id)
            if held is not None:
                push_seat(held)
        return socket_ack(exc)
    conn = _connections[request.sid]  # type: ignore[attr-defined]
    conn.update(attempt_id=state.id, workstation=workstation)
    join_room(attempt_room(state.id))
    if seat_changed:  # a whole room reconnecting after a restart sends the proctor nothing new
        push_seat(state)
    return body


# The same join, carried by a reconnect's connect (its log line says `join_with_connect`).
_join_with_connect = _candidate_step(_join, event="join_with_connect")


@socketio.on("start", namespace=EXAM_NS)
@_candidate_step
def on_start(candidate_id: int, data: Any) -> dict[str, Any]:
    with burst_gate.admit("start"):
        ack, state = steps.start(db.session, _arg(data, "attempt_id"), _actor(), _workstation(),
                                 candidate_id=candidate_id)
        if state.status == IN_PROGRESS:
            # The paper comes with the start: a whole room's second request (GET /api/attempt, with its HTTP
            # parse, login cookie, user load and attempt query) was more than half of the start burst. It is
            # sent as the JSON text that GET answers, a string the packet encoder copies instead of
            # re-encoding 100 items per candidate (and as UTF-8: app.PacketJson).
            ack["paper"] = state_paper_json(db.session, state)
    push_seat(state)
    return ack


@socketio.on("save", namespace=EXAM_NS)
@_candidate_step
def on_save(candidate_id: int, data: Any) -> dict[str, Any]:
    attempt_id = _arg(data, "attempt_id")
    ack = steps.save_answer(
        db.session, candidate_id, attempt_id, _arg(data, "item_id"), _arg(data, "value"),
        _arg(data, "seq"), _arg(data, "key"), _workstation(),
    )
    if ack.get("error") == "deadline_passed":
        attempt = db.session.get(Attempt, attempt_id)
        if attempt is not None:
            push_attempt_state(attempt, "deadline")
    return ack


@socketio.on("flag", namespace=EXAM_NS)
@_candidate_step
def on_flag(candidate_id: int, data: Any) -> dict[str, Any]:
    return steps.set_flag(
        db.session, candidate_id, _arg(data, "attempt_id"), _arg(data, "item_id"), _arg(data, "flagged"),
        _arg(data, "seq"), _arg(data, "key"), _workstation(),
    )


@socketio.on("submit", namespace=EXAM_NS)
@_candidate_step
def on_submit(candidate_id: int, data: Any) -> dict[str, Any]:
    ack, state, submit_text = steps.submit_with_state(db.session, candidate_id, _arg(data, "attempt_id"),
                                                      _arg(data, "key"), _workstation())
    if ack.get("ok") and state is not None:
        push_state(state, "submitted", submit_text)
    return ack


@socketio.on("ping_time", namespace=EXAM_NS)
@db.once_more_after_disconnect
def on_ping_time(data: Any = None) -> dict[str, Any]:
    """The remaining time now, for the browser's latency-corrected countdown."""
    if _too_large(data):
        return socket_ack(DeliveryError("payload_too_large"))
    attempt = _own_attempt(data)
    if attempt is None:
        return socket_ack(DeliveryError("not_your_attempt"))
    return {"ok": True, "status": attempt.status, "remaining_s": round(remaining_seconds(attempt), 3)}
