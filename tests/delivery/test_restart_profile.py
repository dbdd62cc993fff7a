"""benchmarks/restart_profile.py: py-spy's stacks of a restarted server, put in parts (load.py --profile-restart)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.restart_profile import OTHER, RestartProfile, parts_of

# Stacks as py-spy's raw format writes them: outermost frame first, `;`-joined, then the sample count.
GREENLET = "run (gevent/greenlet.py:900);Server._trigger_event (engineio/base_server.py:10)"
EVENT = GREENLET + ";Server._handle_eio_message (socketio/server.py:15);Server._trigger_event (socketio/server.py:20);SocketIO._handle_event (flask_socketio/__init__.py:30)"
HANDSHAKE = ("WSGIHandler.handle (gevent/pywsgi.py:1);WebSocketHandler.run_application (geventwebsocket/handler.py:2);"
             "_SocketIOMiddleware.__call__ (flask_socketio/__init__.py:3);Server.handle_request (socketio/server.py:4);"
             "Server._handle_connect (engineio/server.py:5)")


def test_each_stack_goes_to_the_first_part_it_matches() -> None:
    raw = [
        f"{EVENT};_logged.<locals>.run (exam_server/delivery/events.py:5);on_save (exam_server/delivery/events.py:6);"
        "commit_core (exam_server/delivery/store.py:7) 30",
        f"{EVENT};_logged.<locals>.run (exam_server/delivery/events.py:5);Logger.info (logging/__init__.py:1) 4",
        f"{EVENT};on_connect (exam_server/delivery/events.py:9);_load_user (flask_login/login_manager.py:1);"
        "load_principal (exam_server/core/auth.py:2) 6",
        f"{EVENT};RequestContext.__enter__ (flask/ctx.py:1) 5",
        f"{EVENT};Server._send_packet (socketio/server.py:8) 1",
        f"{HANDSHAKE};Socket._upgrade_websocket (engineio/socket.py:4);Socket._websocket_handler (engineio/socket.py:5) 7",
        f"{HANDSHAKE} 3",
        "<module> (exam_server/entry.py:1);_find_and_load (<frozen importlib._bootstrap>:1) 40",
        "run (gevent/threadpool.py:1);acquire_with_timeout (gevent/_threading.py:2) 9",
        "main (something/else.py:1) 2",
        "",  # an empty line and a line without a count are skipped
        "no count here",
    ]
    samples = parts_of(raw)
    assert samples == {
        "save: the handler": 30,
        "each event: its log line and request id": 4,
        "connect: ticket loaded": 6,
        "each event: Flask request context": 5,
        "each event: Socket.IO dispatch and acknowledgement": 1,
        "WebSocket frames read and written": 7,
        "handshake: HTTP request and WebSocket upgrade": 3,
        "start-up: imports and the app's creation": 40,
        "thread pool (another thread, not the loop)": 9,
        OTHER: 2,
    }


def test_a_profile_with_no_sampler_says_why() -> None:
    profile = RestartProfile(5.0, Path("/nonexistent/restart-profile.txt"))
    assert profile.report() == ["  restart profile: none (the server was not restarted)"]
