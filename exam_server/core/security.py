"""Password hashing (argon2) and login throttling: growing delays per account and per client address."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY
from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from exam_server.core.models import LoginThrottle
from item_bank.db import utcnow

_HASHERS = {
    # OWASP's minimum argon2id setting (19 MiB, 2 passes): ~0.05 s here, so a room of candidates can
    # log in at once on a modest test-site server.
    "default": PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1),
    # Tests and load benchmarks create thousands of tickets; the cheap profile keeps them fast.
    "low": PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1),
    "rfc_low_memory": PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY),
}


def hash_password(password: str, profile: str = "default") -> str:
    return _HASHERS[profile].hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when `password` matches; any malformed hash is simply a mismatch."""
    try:
        return _HASHERS["default"].verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Throttle:
    """How one kind of key slows down: free tries, then 1 s after the next failure, doubling up to `max_delay_s`.

    A failure run ends after `quiet_s` with no failure. Tries refused while a key waits are not failures, so
    hammering never lengthens the wait: whoever waits it out, the real user among them, gets a real try.
    """

    free_failures: int
    max_delay_s: int
    quiet_s: int

    def delay_s(self, failures: int) -> int:
        if failures < self.free_failures:
            return 0
        return min(self.max_delay_s, 2 ** min(failures - self.free_failures, 30))


STAFF_ACCOUNT = "user"
TICKET_ACCOUNT = "ticket"


def account_key(kind: str, name: str) -> str:
    """The throttle key of one account (`kind` "user" or "ticket"), whichever address it is tried from."""
    return f"account:{kind}:{name[:150]}"


def address_key(address: str) -> str:
    """The throttle key of one client address, whichever accounts it tries."""
    return f"address:{address[:150]}"


def login_wait_s(session: Session, keys: list[str]) -> int:
    """Whole seconds until every one of `keys` may try again (0: now)."""
    now = utcnow()
    wait = 0.0
    for key in keys:
        row = session.get(LoginThrottle, key)
        if row is not None and row.blocked_until is not None and row.blocked_until > now:
            wait = max(wait, (row.blocked_until - now).total_seconds())
    return math.ceil(wait)


def record_login_failure(session: Session, throttles: dict[str, Throttle]) -> int:
    """Count a failed login against each key; returns the seconds the next try must wait. Commits."""
    try:
        return _record_failure(session, throttles)
    except IntegrityError:  # a parallel failure created the same key first: count this one on its row
        session.rollback()
        return _record_failure(session, throttles)


def _record_failure(session: Session, throttles: dict[str, Throttle]) -> int:
    now = utcnow()
    wait = 0
    for key, throttle in throttles.items():
        row = session.get(LoginThrottle, key)
        if row is None:
            row = LoginThrottle(key=key, failures=0, window_start=now)
            session.add(row)
        last = row.last_failure_at or row.window_start
        if (now - last) >= dt.timedelta(seconds=throttle.quiet_s):
            row.failures, row.window_start = 0, now
        row.failures += 1
        row.last_failure_at = now
        delay = throttle.delay_s(row.failures)
        row.blocked_until = now + dt.timedelta(seconds=delay) if delay else None
        wait = max(wait, delay)
    session.commit()
    return wait


def clear_login_failures(session: Session, key: str) -> bool:
    """Forget `key`'s failures (a successful login, or an unlock); True if it had any. Commits."""
    row = session.get(LoginThrottle, key)
    if row is None:
        return False
    session.delete(row)
    session.commit()
    return True


def throttled_keys(session: Session, prefix: str) -> list[LoginThrottle]:
    """The keys starting with `prefix` that must wait now, longest wait first."""
    now = utcnow()
    rows = session.scalars(
        select(LoginThrottle).where(LoginThrottle.key.startswith(prefix, autoescape=True),
                                    LoginThrottle.blocked_until > now)
        .order_by(LoginThrottle.blocked_until.desc())
    ).all()
    return list(rows)


def purge_expired_throttles(session: Session, quiet_s: int) -> int:
    """Delete the throttle rows that no longer slow anyone: no wait left and no failure for `quiet_s` (the next
    failure would start a new run anyway). Without this every address and name ever mistyped stays a row. Commits;
    returns how many went."""
    now = utcnow()
    last = func.coalesce(LoginThrottle.last_failure_at, LoginThrottle.window_start)
    result = session.execute(
        delete(LoginThrottle).where(
            last < now - dt.timedelta(seconds=quiet_s),
            or_(LoginThrottle.blocked_until.is_(None), LoginThrottle.blocked_until <= now),
        ).execution_options(synchronize_session=False)
    )
    session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
