"""Password hashing (argon2) and login rate limiting."""

from __future__ import annotations

import datetime as dt

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY
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


class TooManyAttempts(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"登录失败次数过多，请 {retry_after_s} 秒后再试。")
        self.retry_after_s = retry_after_s


def check_login_allowed(session: Session, key: str, max_failures: int, window_s: int) -> None:
    """Raise TooManyAttempts while `key` has `max_failures` failures inside the window."""
    row = session.get(LoginThrottle, key)
    if row is None:
        return
    elapsed = (utcnow() - row.window_start).total_seconds()
    if elapsed >= window_s:
        return
    if row.failures >= max_failures:
        raise TooManyAttempts(int(window_s - elapsed) + 1)


def record_login_failure(session: Session, key: str, window_s: int) -> None:
    row = session.get(LoginThrottle, key)
    now = utcnow()
    if row is None:
        session.add(LoginThrottle(key=key, failures=1, window_start=now))
    elif (now - row.window_start) >= dt.timedelta(seconds=window_s):
        row.failures, row.window_start = 1, now
    else:
        row.failures += 1
    session.commit()


def clear_login_failures(session: Session, key: str) -> None:
    row = session.get(LoginThrottle, key)
    if row is not None:
        session.delete(row)
        session.commit()
