"""Who did something, spelled one way in every audit row: `user:<login>`, `cli:<login or command>`, `system:<job>`.

Audit rows, attempt events and grading marks store this string, so a search for one person finds every trace.
"""

from __future__ import annotations

import getpass

KINDS = ("user", "cli", "system")


def actor(kind: str, name: str) -> str:
    """`kind:name`, refusing a kind outside `KINDS` or an empty name."""
    if kind not in KINDS:
        raise ValueError(f"unknown actor kind {kind!r}; one of {KINDS}")
    name = (name or "").strip()
    if not name:
        raise ValueError("an actor needs a name")
    return f"{kind}:{name}"


def user_actor(login: str) -> str:
    """A person signed in to a screen (staff, proctor, grader or candidate)."""
    return actor("user", login)


def cli_actor(name: str) -> str:
    """An operator at `examctl`: the `--actor` given, or the command's name."""
    return actor("cli", name)


def shell_actor(given: str | None = None) -> str:
    """Who runs an `examctl` command: the `--actor` given (`cli:` added unless it names its kind), else
    `cli:<login name of the shell>`."""
    if given and kind_of(given):
        return given
    if given:
        return cli_actor(given)
    try:
        login = getpass.getuser()
    except Exception:  # no login name in some containers
        login = "unknown"
    return cli_actor(login)


def system_actor(job: str) -> str:
    """The server itself: the deadline sweeper, a job, the demo's seeding."""
    return actor("system", job)


def kind_of(value: str) -> str:
    """The kind part of a stored actor string (`user`, `cli`, `system`), or '' for an older free-form one."""
    head, sep, _ = value.partition(":")
    return head if sep and head in KINDS else ""
