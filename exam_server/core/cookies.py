"""The signed-cookie login session, decoded once per Socket.IO connection."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

if TYPE_CHECKING:
    from flask import Flask, Request

SOCKETIO_PATH = "/socket.io"
_DECODED = "exam.decoded_session"


class ConnectionSessionInterface(SecureCookieSessionInterface):
    """Flask's cookie session, except that a Socket.IO connection verifies its cookie only once.

    A Socket.IO connection keeps the environ of its handshake, and so its cookie, for its whole life,
    and Flask-SocketIO opens the session again for every event: verifying the same signature for every
    saved answer of a whole room was work for nothing. The decoded session is kept in that environ;
    each event gets a fresh copy of it. HTTP requests are decoded (and their age checked) as usual.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        environ = request.environ
        if not str(environ.get("PATH_INFO", "")).startswith(SOCKETIO_PATH):
            return super().open_session(app, request)
        decoded = environ.get(_DECODED)
        if decoded is None:
            session = super().open_session(app, request)
            if session is None:
                return None
            environ[_DECODED] = dict(session)
            return session
        return self.session_class(decoded)
