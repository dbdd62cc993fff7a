"""Configuration from environment variables, with safe defaults for a single test-site server."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any


def _secret_key(instance_path: Path) -> str:
    """SECRET_KEY from the environment, else one generated once into the instance folder."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = instance_path / "secret_key"
    if not path.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def load_config(instance_path: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The app's settings: environment first, then defaults; `overrides` (tests) win over both."""
    overrides = dict(overrides or {})
    env = os.environ
    cfg: dict[str, Any] = {
        "DATABASE_URL": env.get("DATABASE_URL") or f"sqlite:///{instance_path / 'exam.db'}",
        "SOCKETIO_MESSAGE_QUEUE": env.get("SOCKETIO_MESSAGE_QUEUE") or None,
        "SOCKETIO_ASYNC_MODE": env.get("SOCKETIO_ASYNC_MODE") or None,
        # Seconds a socket's pong may be late before the server closes it. Engine.IO's 20 s closed every socket
        # of a server that fell more than 20 s behind (a 5,000-candidate restart or submit storm, issue 17), and
        # the whole centre reconnected a second time; a dead client is noticed after 25 s + this.
        "SOCKETIO_PING_TIMEOUT": int(env.get("SOCKETIO_PING_TIMEOUT", "60")),
        # New connections the server takes from the kernel's queue per turn of its event loop (gevent's
        # max_accept, 100 by default). After a restart a whole centre's browsers are queued at once; taking them
        # 100 at a time put a second of handshakes ahead of every answer saved meanwhile (issue 17).
        "ACCEPT_PER_TURN": int(env.get("ACCEPT_PER_TURN", "4")),
        "DB_POOL_SIZE": int(env.get("DB_POOL_SIZE", "10")),
        # Argon2 cost; "low" is only for tests and benchmarks that create thousands of logins.
        "PASSWORD_HASH_PROFILE": env.get("PASSWORD_HASH_PROFILE", "default"),
        # Login throttling (core/security.py): after the free failures an account, or a client address, waits
        # 1 s before its next try, doubling up to the cap; a run of failures is forgotten after LOGIN_QUIET_S.
        "LOGIN_ACCOUNT_FREE_FAILURES": int(env.get("LOGIN_ACCOUNT_FREE_FAILURES", "3")),
        "LOGIN_ACCOUNT_MAX_DELAY_S": int(env.get("LOGIN_ACCOUNT_MAX_DELAY_S", "60")),
        # A room behind one NAT address shares its key: more free failures before the address slows down.
        "LOGIN_ADDRESS_FREE_FAILURES": int(env.get("LOGIN_ADDRESS_FREE_FAILURES", "20")),
        "LOGIN_ADDRESS_MAX_DELAY_S": int(env.get("LOGIN_ADDRESS_MAX_DELAY_S", "300")),
        "LOGIN_QUIET_S": int(env.get("LOGIN_QUIET_S", "900")),
        # Number of reverse proxies in front of the server whose X-Forwarded-For is trusted for the client's
        # address (0: none, the connection's own address counts; never trust a header nobody sets for you).
        "PROXY_FIX_X_FOR": int(env.get("PROXY_FIX_X_FOR", "0")),
        "DEADLINE_SWEEP_S": float(env.get("DEADLINE_SWEEP_S", "1.0")),
        "IDLE_AFTER_S": int(env.get("IDLE_AFTER_S", "300")),
        # Open /exam sockets one candidate may hold at once, over every process (0 = no limit).
        "MAX_SOCKETS_PER_CANDIDATE": int(env.get("MAX_SOCKETS_PER_CANDIDATE", "3")),
        "RUN_BACKGROUND_TASKS": env.get("RUN_BACKGROUND_TASKS", "1") == "1",
        # Background jobs (exam_server/jobs): sqlite | redis | immediate; unset paths live under instance/jobs/.
        "JOBS_BACKEND": env.get("JOBS_BACKEND", "sqlite"),
        "JOBS_QUEUE_DB": env.get("JOBS_QUEUE_DB") or None,
        "JOBS_REDIS_URL": env.get("JOBS_REDIS_URL") or None,
        "JOBS_QUEUE_NAME": env.get("JOBS_QUEUE_NAME", "exam-jobs"),
        "JOBS_DIR": env.get("JOBS_DIR") or None,
        "JOBS_UPLOAD_DIR": env.get("JOBS_UPLOAD_DIR") or None,
        # Housekeeping (ops/housekeeping.py): every HOUSEKEEPING_INTERVAL_S the server queues one job that deletes
        # what nobody needs any more (0: never; `examctl housekeeping` runs it by hand or from cron). A previewed
        # import's kept file goes once its dry run is BANK_DRY_RUN_KEEP_H hours old and was never confirmed.
        "HOUSEKEEPING_INTERVAL_S": float(env.get("HOUSEKEEPING_INTERVAL_S", "3600")),
        "BANK_DRY_RUN_KEEP_H": float(env.get("BANK_DRY_RUN_KEEP_H", "24")),
        # Logs: `text` lines for a person at a test site's console, `json` lines for a centre's log collector.
        "LOG_FORMAT": env.get("LOG_FORMAT", "text"),
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO"),
        # /healthz fails when a folder the server writes (instance, jobs, the SQLite database) has less free space.
        "HEALTH_MIN_FREE_MB": int(env.get("HEALTH_MIN_FREE_MB", "500")),
        # The node's role (sitenode/roles.py): "centre" runs everything, "site" only the exam day's screens;
        # SITE_CODE names a site node's own site (the code its packages are made for).
        "NODE_ROLE": env.get("NODE_ROLE", "centre"),
        "SITE_CODE": env.get("SITE_CODE") or None,
        # The folder of the node's Ed25519 key pair (default: the instance folder); never inside the repo.
        "NODE_KEY_DIR": env.get("NODE_KEY_DIR") or None,
        "DISPLAY_TIMEZONE": "Asia/Shanghai",
        "WTF_CSRF_TIME_LIMIT": None,
        "WTF_CSRF_SSL_STRICT": False,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Set SESSION_COOKIE_SECURE=1 where browsers reach the server over HTTPS (a centre behind a TLS proxy).
        "SESSION_COOKIE_SECURE": env.get("SESSION_COOKIE_SECURE", "0").lower() in ("1", "true", "yes"),
        "REMEMBER_COOKIE_SECURE": env.get("SESSION_COOKIE_SECURE", "0").lower() in ("1", "true", "yes"),
        # The largest request (an import's upload) in MB; a larger one is refused with 413 before it is read.
        "MAX_CONTENT_LENGTH": int(env.get("MAX_UPLOAD_MB", "64")) * 1024 * 1024,
        "TESTING": False,
    }
    if "SECRET_KEY" not in overrides:
        cfg["SECRET_KEY"] = _secret_key(instance_path)
    cfg.update(overrides)
    return cfg
