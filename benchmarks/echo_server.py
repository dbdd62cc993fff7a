"""A bare Flask-SocketIO server speaking the candidate protocol's shape: the yardstick of benchmarks/load.py.

A reconnect's join comes in its connect (`auth["join"]`) and is answered with a `joined` event, as by the
product. Each `save` is acknowledged after one upsert (the highest seq per client and item wins) committed to the
database, and nothing else: no login, no attempt, no event log, no checks. It runs like the product
(gevent, the same SQLite pragmas or the same PostgreSQL driver, optionally Redis as message queue), so
the latency ratio product / echo in the same run is what the product's own work costs.

    python benchmarks/echo_server.py --port 5600 --database-url sqlite:////tmp/echo.db
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

TABLE = "echo_answer"
N_ITEMS = 100


def canned_attempt(n_items: int = N_ITEMS) -> dict[str, Any]:
    """A `GET /api/attempt` body of the product's size and shape (single-choice items, four options)."""
    stem = "保安员在执勤中发现可疑人员时，下列做法正确的是（ ）。" * 2
    items = [
        {"item_id": i, "number": i, "type": "single", "stem": stem, "points": 1, "section": "二、单项选择题",
         "options": [{"id": letter, "text": f"选项{letter}：按照规定及时报告并做好记录"} for letter in "ABCD"]}
        for i in range(1, n_items + 1)
    ]
    return {"attempt_id": 0, "status": "in_progress", "remaining_s": 5400.0, "items": items}


def create_table(url: str) -> None:
    """The one table of the echo server (kept apart from the product's tables)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from sqlalchemy import text

    from item_bank.db import make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {TABLE}"))
        conn.execute(text(
            f"CREATE TABLE {TABLE} (client INTEGER NOT NULL, item INTEGER NOT NULL, value TEXT, "
            "seq INTEGER NOT NULL, saved_at VARCHAR(40), PRIMARY KEY (client, item))"
        ))
    engine.dispose()


def serve(port: int, database_url: str, message_queue: str | None) -> None:
    from gevent import monkey

    monkey.patch_all()
    if not database_url.startswith("sqlite"):
        from psycogreen.gevent import patch_psycopg

        patch_psycopg()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from flask import Flask, jsonify, request
    from flask_socketio import SocketIO
    from sqlalchemy import text

    from item_bank.db import make_engine

    kwargs: dict[str, Any] = {}
    if not database_url.startswith("sqlite"):
        kwargs.update(pool_size=10, max_overflow=5)  # the product's bounded pool
    engine = make_engine(database_url, **kwargs)
    upsert = text(
        f"INSERT INTO {TABLE} (client, item, value, seq, saved_at) VALUES (:c, :i, :v, :s, :t) "
        f"ON CONFLICT (client, item) DO UPDATE SET value = excluded.value, seq = excluded.seq, "
        f"saved_at = excluded.saved_at WHERE excluded.seq > {TABLE}.seq"
    )
    app = Flask(__name__)
    socketio = SocketIO(app, async_mode="gevent", message_queue=message_queue, manage_session=False)
    clients: dict[str, int] = {}
    body = canned_attempt()

    @app.get("/api/attempt")
    def api_attempt() -> Any:
        return jsonify(body)

    @socketio.on("connect", namespace="/exam")
    def on_connect(auth: Any = None) -> bool:
        if not isinstance(auth, dict) or not isinstance(auth.get("client"), int):
            return False
        clients[request.sid] = auth["client"]  # type: ignore[attr-defined]
        if isinstance(auth.get("join"), dict):  # a reconnect's join, answered as the product does
            socketio.server.emit("joined", on_join(auth["join"]), to=request.sid,  # type: ignore[attr-defined]
                                 namespace="/exam", ignore_queue=True)
        return True

    @socketio.on("disconnect", namespace="/exam")
    def on_disconnect(*_args: Any) -> None:
        clients.pop(request.sid, None)  # type: ignore[attr-defined]

    @socketio.on("join", namespace="/exam")
    def on_join(data: Any) -> dict[str, Any]:
        return {"ok": True, "attempt_id": clients.get(request.sid), "status": "checked_in",  # type: ignore[attr-defined]
                "remaining_s": 5400.0, "answers": {}, "flags": []}

    @socketio.on("start", namespace="/exam")
    def on_start(data: Any) -> dict[str, Any]:
        return {"ok": True, "status": "in_progress", "remaining_s": 5400.0}

    @socketio.on("save", namespace="/exam")
    def on_save(data: Any) -> dict[str, Any]:
        now = dt.datetime.now(dt.UTC).isoformat()
        with engine.begin() as conn:
            conn.execute(upsert, {"c": clients[request.sid], "i": data["item_id"],  # type: ignore[attr-defined]
                                  "v": data["value"], "s": data["seq"], "t": now})
        return {"ok": True, "seq": data["seq"], "saved_at": now}

    @socketio.on("submit", namespace="/exam")
    def on_submit(data: Any) -> dict[str, Any]:
        return {"ok": True, "status": "submitted"}

    socketio.run(app, host="127.0.0.1", port=port, log_output=False, allow_unsafe_werkzeug=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--message-queue", default=None)
    parser.add_argument("--create", action="store_true", help="(re)create the table and exit")
    args = parser.parse_args()
    if args.create:
        create_table(args.database_url)
        return
    serve(args.port, args.database_url, args.message_queue)


if __name__ == "__main__":
    main()
