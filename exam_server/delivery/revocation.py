"""Ended login sessions close their open exam sockets, in every process.

An /exam socket loads its candidate once, at connect, and its events never reload the login (saves are the hot
path). So when a ticket's sessions end (core/auth.py `sessions_revoked`: a logout ends every copy of the
cookie), the sockets opened with an earlier session must be closed here: this process closes its own at once,
and with a Redis message queue it publishes the ticket on a channel that every process serving sockets listens
to (started with the server's background work). A closed socket cannot come back: its reconnect loads the login
again and is refused.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app

from exam_server.core.background import background_task
from exam_server.delivery import events
from exam_server.delivery.notify import EXAM_NS
from exam_server.extensions import socketio

log = logging.getLogger(__name__)

REVOKED_CHANNEL = "exam:revoked-tickets"
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
_publisher: dict[str, Any] = {}


def close_ticket_sockets(ticket_id: int) -> int:
    """Disconnect this process's /exam sockets of `ticket_id`; returns how many."""
    sids = [sid for sid, conn in list(events._connections.items()) if conn.get("ticket_id") == ticket_id]
    for sid in sids:
        try:
            socketio.server.disconnect(sid, namespace=EXAM_NS)
        except Exception:  # already gone: nothing left to close
            log.debug("socket %s was already closed", sid, exc_info=True)
        events._connections.pop(sid, None)  # a late event on it is refused even if the close is still under way
    return len(sids)


def _queue_url(app: Flask) -> str | None:
    url = app.config.get("SOCKETIO_MESSAGE_QUEUE") or ""
    return url if url.startswith(_REDIS_SCHEMES) else None


def close_revoked_sockets(principal_id: str, **_: Any) -> None:
    """Receiver of `sessions_revoked`: close the ticket's sockets here and, through Redis, in every process."""
    kind, _sep, raw = principal_id.partition(":")
    if kind != "t" or not raw.isdigit():
        return  # staff sockets reload their login on every event (proctoring/events.py)
    close_ticket_sockets(int(raw))
    url = _queue_url(current_app)
    if url is None:
        return
    try:
        if url not in _publisher:
            import redis  # only a multi-process set-up has a Redis queue; one process never loads the client

            _publisher[url] = redis.Redis.from_url(url, socket_timeout=2)
        _publisher[url].publish(REVOKED_CHANNEL, raw)
    except Exception:  # the sockets elsewhere stay open until they reconnect, when their login is refused
        log.warning("could not announce the revoked sessions of ticket %s", raw, exc_info=True)


def _listen_forever(url: str) -> None:
    import redis

    # No read timeout: the subscription waits for messages (a health check keeps the connection honest).
    client = redis.Redis.from_url(url, health_check_interval=30)
    while True:
        try:
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(REVOKED_CHANNEL)
            for message in pubsub.listen():
                data = message.get("data")
                if isinstance(data, bytes) and data.isdigit():
                    close_ticket_sockets(int(data))
        except Exception:  # Redis away for a moment: subscribe again
            log.warning("lost the revoked-sessions channel; subscribing again", exc_info=True)
            socketio.sleep(1.0)


@background_task
def start_revocation_listener(app: Flask) -> None:
    """With a Redis message queue, close this process's sockets of sessions ended in any process."""
    url = _queue_url(app)
    if url is not None:
        socketio.start_background_task(_listen_forever, url)
