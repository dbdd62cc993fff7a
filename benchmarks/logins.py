"""What a candidate's login costs: argon2 at each profile against the keyed hash tickets now use, and whole logins.

    python benchmarks/logins.py [--logins 300] [--repeat 20]

1. The password check alone, on this machine, one core: argon2id hash and verify at the staff setting
   (`default`: 19 MiB, 2 passes), RFC 9106's low-memory one, the `low` profile of tests and load runs, and the
   keyed HMAC-SHA256 of ticket passwords (exam_server/sessions/credentials.py). For each, the CPU 5,000 logins
   would take, and the share of one core that is if they come over 10 minutes.
2. Whole logins (GET /login, POST /login, the session and the throttle) through the Flask test client on a
   fresh SQLite database, three kinds: a first login (the sealed password checked, the keyed hash stored), a
   later login (the keyed hash checked) and a later login of a ticket hashed with argon2 `default` before this
   change (verified, then rewritten as a keyed hash). Per login, median and p95.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.sandbox import sqlite_app  # noqa: E402  (the checkout goes on the path first)

ROOM = 5000
WINDOW_S = 600.0


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def check_costs(repeat: int) -> None:
    from exam_server.core.security import hash_password, verify_password
    from exam_server.sessions.credentials import ticket_password_hash, verify_ticket_password

    print(f"password check alone, median of {repeat} (one core; 5,000 logins: CPU total, share of one core over "
          f"{WINDOW_S / 60:.0f} min)")
    rows: list[tuple[str, list[float]]] = []
    for profile in ("default", "rfc_low_memory", "low"):
        stored = hash_password("042917", profile)
        rows.append((f"argon2 {profile:14} hash", timed(lambda p=profile: hash_password("042917", p), repeat)))
        rows.append((f"argon2 {profile:14} verify", timed(lambda s=stored: verify_password(s, "042917"), repeat)))
    stored = ticket_password_hash("042917", "secret")
    rows.append(("keyed HMAC-SHA256 hash", timed(lambda: ticket_password_hash("042917", "secret"), repeat * 50)))
    rows.append(("keyed HMAC-SHA256 verify",
                 timed(lambda: verify_ticket_password(stored, "042917", "secret"), repeat * 50)))
    for name, times in rows:
        med = statistics.median(times)
        total = med * ROOM
        print(f"  {name:32} {med * 1000:9.3f} ms   5,000: {total:8.2f} s CPU = {100 * total / WINDOW_S:6.2f}% of a core")


def whole_logins(n: int) -> None:
    from sqlalchemy import select, update

    import exam_server.models  # noqa: F401  (every table declared)
    from exam_server.core.security import hash_password
    from exam_server.demo import seed_exam
    from exam_server.extensions import db
    from exam_server.sessions.credentials import TICKET_HASH_PREFIX, app_secret, printable_passwords
    from exam_server.sessions.models import Ticket

    app, _, _ = sqlite_app("logins", database="logins.db", profile="default", jobs=False)
    import re

    def login(client: object, number: str, password: str) -> float:
        t = time.perf_counter()
        html = client.get("/login").get_data(as_text=True)  # type: ignore[attr-defined]
        match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
        assert match
        r = client.post("/login", data={"ticket": number, "password": password,  # type: ignore[attr-defined]
                                        "csrf_token": match.group(1)})
        assert r.status_code == 302, r.status_code
        return time.perf_counter() - t

    # Requests run outside an app context of ours: one held open would lend its `g` (the CSRF token, the user)
    # to every request.
    with app.app_context():
        t = time.perf_counter()
        seed_exam(db.session, n_candidates=n, hash_profile="low", staff_password="pw-staff-benchmark",
                  keep_sealed=True, duration_s=3 * 3600)
        tickets = db.session.scalars(select(Ticket).order_by(Ticket.number)).all()
        passwords = printable_passwords(tickets, app_secret())
        logins = [(ticket.number, passwords[ticket.id]) for ticket in tickets]
        ids = {ticket.number: ticket.id for ticket in tickets}
        db.dispose()
    print(f"\nwhole logins through the Flask test client, SQLite, {n} tickets (seeded in {time.perf_counter() - t:.0f} s)")
    first = [login(app.test_client(), number, password) for number, password in logins]
    later = [login(app.test_client(), number, password) for number, password in logins]
    with app.app_context():
        # Tickets hashed with argon2 at the staff setting before this change: verified once, then rewritten.
        for number, password in logins:
            db.session.execute(update(Ticket).where(Ticket.id == ids[number])
                               .values(password_hash=hash_password(password, "default")))
        db.session.commit()
        db.dispose()
    legacy = [login(app.test_client(), number, password) for number, password in logins]
    after = [login(app.test_client(), number, password) for number, password in logins]
    with app.app_context():
        rewritten = db.session.scalars(select(Ticket.password_hash)).all()
        assert all(h.startswith(TICKET_HASH_PREFIX) for h in rewritten)
        db.dispose()
    for name, times in (("first login (sealed, keyed hash stored)", first), ("later login (keyed hash)", later),
                        ("argon2 ticket of before (verified, rewritten)", legacy),
                        ("the same ticket's next login (keyed)", after)):
        ms = sorted(x * 1000 for x in times)
        p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
        print(f"  {name:48} median {statistics.median(ms):7.1f} ms  p95 {p95:7.1f} ms  "
              f"({n} logins in {sum(ms) / 1000:.1f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=300, help="tickets logged in (each kind)")
    parser.add_argument("--repeat", type=int, default=20, help="repetitions of each argon2 measurement")
    args = parser.parse_args()
    import os

    load1, _load5, _ = os.getloadavg()
    print(f"{os.cpu_count()} cores, load average {load1:.1f} at the start")
    check_costs(args.repeat)
    whole_logins(args.logins)


if __name__ == "__main__":
    main()
