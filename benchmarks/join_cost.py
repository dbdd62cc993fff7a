"""Where a candidate's reconnect goes: the server's work for one /exam connect + join, for the start with its
paper, for the paper and for 交卷.

    python benchmarks/join_cost.py [--candidates 200] [--answers 30]

After a server restart every candidate of a centre opens a socket again (connect: the login cookie read, the
ticket loaded, a socket slot taken) and joins (the attempt's state read and locked, its acknowledged answers
read, the seat pushed to the proctors, the acknowledgement encoded and sent); at the start each one also fetches
its paper (in the start's acknowledgement; from a server without that, GET /api/attempt). This first profiles
every candidate's start (with its paper, however the server gives it) as the start burst does it, then seeds N started attempts with `--answers` saved answers each on SQLite,
then runs every candidate's connect + join once more (as after a restart; then again as a page that holds every
acknowledged answer, sending the newest seq it saw acknowledged, then with that join carried by the connect, as the
exam page does) and fetches every paper, through the
Flask-SocketIO test client in this process under cProfile, and prints the time per candidate by part; then
every candidate submits (a room's submit burst: the submission committed and acknowledged, scoring left to the
job) under a second profile, with its parts.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.sandbox import sqlite_app  # noqa: E402  (the checkout goes on the path first)

NS = "/exam"
# The parts of a reconnect, by the function whose cumulative time is that part (file suffix, function name).
PARTS = [
    ("connect: login cookie read + ticket loaded", "flask_login/login_manager.py", "_load_user"),
    ("connect: the handler (socket slot)", "delivery/events.py", "on_connect"),
    ("join: all of it", "delivery/events.py", "on_join"),
    ("join: attempt state read + locked", "delivery/queries.py", "attempt_state"),
    ("join: acknowledged answers read", "delivery/queries.py", "answers_of"),
    ("join: commit", "delivery/store.py", "commit_core"),
    ("join: seat pushed to proctors", "delivery/notify.py", "push_seat"),
    ("ack encoded + sent (socket emit)", "flask_socketio/test_client.py", "_mock_send_packet"),
    ("paper: GET /api/attempt, all of it", "delivery/views.py", "api_attempt"),
    ("paper: rendered", "delivery/paper.py", "render_attempt_json"),
    ("paper: form items (cached per process)", "delivery/paper.py", "form_items"),
]
# A reconnect whose connect carries its join.
CARRIED_PARTS = [
    ("connect: all of it, its join too", "delivery/events.py", "on_connect"),
    ("join: all of it", "delivery/events.py", "_join"),
    ("joined: encoded + sent", "flask_socketio/test_client.py", "_mock_send_packet"),
]
# The parts of a start with its paper (the start burst): in the ack, or (a server without that) GET /api/attempt.
START_PARTS = [
    ("start: all of it (socket event)", "delivery/events.py", "on_start"),
    ("start: the step (delivery/steps.start)", "delivery/steps.py", "start"),
    ("start: state read + locked (with the paper's)", "delivery/queries.py", "start_state"),
    ("start: state read + locked (before)", "delivery/queries.py", "attempt_state"),
    ("start: commit", "delivery/store.py", "commit_core"),
    ("start: paper rendered into the ack", "delivery/paper.py", "state_paper_json"),
    ("start: seat pushed to proctors", "delivery/notify.py", "push_seat"),
    ("ack encoded + sent (socket emit)", "flask_socketio/test_client.py", "_mock_send_packet"),
    ("paper: GET /api/attempt, all of it", "delivery/views.py", "api_attempt"),
    ("paper: GET's user loaded (login cookie)", "flask_login/login_manager.py", "_load_user"),
    ("paper: rendered", "delivery/paper.py", "render_attempt_json"),
]
# The parts of a save (an answer) through the socket: the steady work of a sitting.
SAVE_PARTS = [
    ("save: all of it", "delivery/events.py", "on_save"),
    ("save: the step (delivery/steps.save_answer)", "delivery/steps.py", "save_answer"),
    ("save: state + earlier step read", "delivery/store.py", "item_step_row"),
    ("save: prepared writes", "delivery/store.py", "write_item_step"),
    ("save: commit (disk)", "delivery/store.py", "commit_core"),
    ("ack encoded + sent (socket emit)", "flask_socketio/test_client.py", "_mock_send_packet"),
]
# The parts of a submit (交卷) through the socket.
SUBMIT_PARTS = [
    ("submit: all of it", "delivery/events.py", "on_submit"),
    ("submit: the step (delivery/steps.submit_with_state)", "delivery/steps.py", "submit_with_state"),
    ("submit: attempt state read + locked", "delivery/queries.py", "attempt_state"),
    ("submit: earlier ack of the key read", "delivery/store.py", "previous_ack"),
    ("submit: minimum time checked", "delivery/steps.py", "_check_submit_open"),
    ("submit: moved to submitted (prepared writes)", "delivery/clock.py", "submit_state"),
    ("submit: commit (disk)", "delivery/store.py", "commit_core"),
    ("submit: scoring asked for", "delivery/clock.py", "announce_submissions"),
    ("submit: state pushed (screen + proctors)", "delivery/notify.py", "push_state"),
    ("ack encoded + sent (socket emit)", "flask_socketio/test_client.py", "_mock_send_packet"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--answers", type=int, default=30, help="answers each candidate has saved")
    args = parser.parse_args()

    import exam_server.models  # noqa: F401  (every table declared)
    from exam_server.demo import seed_exam
    from exam_server.extensions import db, socketio

    app, _, _ = sqlite_app("join", database="join.db", jobs=False)
    t = time.perf_counter()
    with app.app_context():
        seeded = seed_exam(db.session, n_candidates=args.candidates, hash_profile="low",
                           staff_password="pw-staff-benchmark", duration_s=3 * 3600)
        db.dispose()
    print(f"{args.candidates} candidates seeded in {time.perf_counter() - t:.0f} s")

    def connect(http: Any, auth: Any = None) -> Any:
        return socketio.test_client(app, namespace=NS, flask_test_client=http, auth=auth)

    # Log in and join (not timed); then the start burst, timed.
    joined = []
    for index, (number, password, _name) in enumerate(seeded.logins):
        http = app.test_client()
        html = http.get("/login").get_data(as_text=True)
        token = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
        assert token
        assert http.post("/login", data={"ticket": number, "password": password,
                                         "csrf_token": token.group(1)}).status_code == 302
        attempt_id = int(http.get("/api/attempt").get_json()["attempt_id"])
        sock = connect(http)
        workstation = f"ws-{index}"
        assert sock.emit("join", {"attempt_id": attempt_id, "workstation": workstation}, namespace=NS, callback=True)["ok"]
        joined.append((http, sock, attempt_id, workstation))
    start_profile = cProfile.Profile()
    papers: list[list[dict[str, Any]]] = []
    in_ack = 0
    t = time.perf_counter()
    start_profile.enable()
    for http, sock, attempt_id, _workstation in joined:
        ack = sock.emit("start", {"attempt_id": attempt_id}, namespace=NS, callback=True)
        assert ack["ok"], ack
        if "paper" in ack:
            in_ack += 1
            papers.append(json.loads(ack["paper"])["items"])
        else:
            papers.append(http.get("/api/attempt").get_json()["items"])
    start_profile.disable()
    start_s = time.perf_counter() - t

    # Answer: every candidate's saves, in turn (timed, profiled).
    save_profile = cProfile.Profile()
    save_s = 0.0
    people = []
    for (http, sock, attempt_id, workstation), items in zip(joined, papers, strict=True):
        t = time.perf_counter()
        save_profile.enable()
        for seq, item in enumerate(items[:args.answers], start=1):
            ack = sock.emit("save", {"attempt_id": attempt_id, "item_id": item["item_id"], "value": "A", "seq": seq,
                                     "key": f"{workstation}:{seq}"}, namespace=NS, callback=True)
            assert ack["ok"], ack
        save_profile.disable()
        save_s += time.perf_counter() - t
        sock.disconnect(namespace=NS)
        people.append((http, attempt_id, workstation))
    print(f"{args.candidates} candidates started with {args.answers} answers each")

    profile = cProfile.Profile()
    t = time.perf_counter()
    profile.enable()
    for http, attempt_id, workstation in people:
        sock = connect(http)
        ack = sock.emit("join", {"attempt_id": attempt_id, "workstation": workstation}, namespace=NS, callback=True)
        assert ack["ok"] and len(ack["answers"]) == args.answers, ack
        sock.disconnect(namespace=NS)
    reconnect_s = time.perf_counter() - t
    t = time.perf_counter()
    for http, _attempt_id, _workstation in people:
        assert http.get("/api/attempt").status_code == 200
    paper_s = time.perf_counter() - t
    profile.disable()
    # The same reconnect by a page that holds every acknowledged answer (it sends the newest seq it saw acknowledged).
    held_profile = cProfile.Profile()
    t = time.perf_counter()
    held_profile.enable()
    for http, attempt_id, workstation in people:
        sock = connect(http)
        ack = sock.emit("join", {"attempt_id": attempt_id, "workstation": workstation, "seen_seq": args.answers},
                        namespace=NS, callback=True)
        assert ack["ok"] and ack["answers"] is None, ack
        sock.disconnect(namespace=NS)
    held_profile.disable()
    held_s = time.perf_counter() - t
    # The same again, the join carried by the connect and answered with a `joined` event (what the exam page does).
    carried_profile = cProfile.Profile()
    t = time.perf_counter()
    carried_profile.enable()
    for http, attempt_id, workstation in people:
        sock = connect(http, {"join": {"attempt_id": attempt_id, "workstation": workstation,
                                       "seen_seq": args.answers}})
        [ack] = [m["args"][0] for m in sock.get_received(NS) if m["name"] == "joined"]
        assert ack["ok"] and ack["answers"] is None, ack
        sock.disconnect(namespace=NS)
    carried_profile.disable()
    carried_s = time.perf_counter() - t

    # Every candidate submits, each on a socket joined beforehand (the joins are not timed).
    sockets = []
    for http, attempt_id, workstation in people:
        sock = connect(http)
        assert sock.emit("join", {"attempt_id": attempt_id, "workstation": workstation}, namespace=NS,
                         callback=True)["ok"]
        sockets.append((sock, attempt_id, workstation))
    submit_profile = cProfile.Profile()
    t = time.perf_counter()
    submit_profile.enable()
    for sock, attempt_id, workstation in sockets:
        ack = sock.emit("submit", {"attempt_id": attempt_id, "key": f"{workstation}:submit"}, namespace=NS,
                        callback=True)
        assert ack["ok"], ack
    submit_profile.disable()
    submit_s = time.perf_counter() - t

    n = args.candidates
    print("\nper candidate, in this process under cProfile (which inflates Python-heavy parts), SQLite:")
    print(f"  start + paper ({in_ack} of {n} papers in the start's ack), whole: {1000 * start_s / n:7.2f} ms")
    _print_parts(start_profile, START_PARTS, n)
    saves = n * args.answers
    print(f"  save (an answer), whole: {1000 * save_s / saves:7.2f} ms a save")
    _print_parts(save_profile, SAVE_PARTS, saves)
    print(f"  connect + join + disconnect, whole: {1000 * reconnect_s / n:7.2f} ms   paper whole: {1000 * paper_s / n:7.2f} ms")
    _print_parts(profile, PARTS, n)
    print(f"  the same reconnect holding every answer (seen_seq), whole: {1000 * held_s / n:7.2f} ms")
    _print_parts(held_profile, [p for p in PARTS if p[0].startswith("join")], n)
    print(f"  the same, its join carried by the connect (joined event), whole: {1000 * carried_s / n:7.2f} ms")
    _print_parts(carried_profile, CARRIED_PARTS, n)
    print(f"  submit, whole: {1000 * submit_s / n:7.2f} ms")
    _print_parts(submit_profile, SUBMIT_PARTS, n)


def _print_parts(profile: cProfile.Profile, parts: list[tuple[str, str, str]], n: int) -> None:
    raw: dict[tuple[str, int, str], Any] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    for label, suffix, func in parts:
        cum = sum(v[3] for (file, _line, name), v in raw.items() if name == func and file.endswith(suffix))
        calls = sum(v[1] for (file, _line, name), v in raw.items() if name == func and file.endswith(suffix))
        print(f"  {label:46} {1000 * cum / n:7.2f} ms   ({calls} calls)")


if __name__ == "__main__":
    main()
