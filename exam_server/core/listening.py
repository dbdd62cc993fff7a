"""The serving port: taken before the application is loaded, and served a few new connections at a time.

Loading the application takes about two seconds. A port that is closed meanwhile refuses every browser that
tries to reconnect after a restart, and each refusal doubles that browser's back-off (Socket.IO: 0.5, 1, 2,
4, 8 s): the candidates of a whole centre came back up to 10 s after the server was ready again. Holding the
port from the first moment lets the kernel queue their connections instead, to be answered as soon as the
application is ready (the same idea as systemd's socket activation). Kept free of heavy imports: `examctl run`
calls it right after gevent's patches.

Once serving, the server takes new connections from that queue `accept_per_turn` at a time, once per turn of
its event loop. gevent takes up to 100 per turn, and with 2,000 browsers queued that put a second of handshakes
(each a spawned greenlet that runs before anything queued later) ahead of every answer saved meanwhile; a few
per turn paces a reconnecting centre by the loop's own speed, so the busier the server, the slower it takes
newcomers (benchmarks/load.py: p99 of the saves around a restart of 2,000 sockets 1,333 -> 33 ms).
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
# A whole centre reconnecting at once waits in this queue while the application loads (the kernel caps it
# at net.core.somaxconn).
BACKLOG = 8192

_taken: dict[tuple[str, int], socket.socket] = {}


def _option(argv: Sequence[str], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def take_port_early(argv: Sequence[str]) -> socket.socket | None:
    """Bind and listen on the `--host`/`--port` of a serving command line, before the application loads.

    Returns None (and leaves the error to the server, which says it in full) when the port cannot be taken.
    """
    host = _option(argv, "--host") or DEFAULT_HOST
    raw_port = _option(argv, "--port")
    if raw_port is not None and not raw_port.isdigit():
        return None
    port = int(raw_port) if raw_port is not None else DEFAULT_PORT
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        listener = socket.socket(family, kind, proto)
    except OSError:
        return None
    try:
        # As the server would: a port left in TIME_WAIT by the process that just died is taken again at once.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(BACKLOG)
    except OSError:
        listener.close()
        return None
    _taken[(host, port)] = listener
    return listener


def early_listener(host: str, port: int) -> socket.socket | None:
    """The socket `take_port_early` bound for this host and port, if any (handed over once)."""
    return _taken.pop((host, port), None)


def gevent_server(app: Any, host: str, port: int, accept_per_turn: int) -> Any:
    """The gevent WSGI server (with WebSocket support, as Flask-SocketIO's own `run` builds it) on the port taken
    early, taking `accept_per_turn` new connections per loop turn; None when no port was taken early (the caller
    then serves as Flask-SocketIO does, binding now)."""
    listener = early_listener(host, port)
    if listener is None:
        return None
    from gevent import pywsgi
    from geventwebsocket.handler import WebSocketHandler

    server = pywsgi.WSGIServer(listener, app, handler_class=WebSocketHandler, log=None)
    server.max_accept = max(1, accept_per_turn)
    return server
