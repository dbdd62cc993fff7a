"""Socket slots across processes (Redis): a slot lives as long as its process's key, a killed process's slots are
dropped by its candidates' next connect, and the heartbeat is one command a process however many sockets it holds."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import need_service

from exam_server.delivery import events, sockets

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


@pytest.fixture
def store() -> Iterator[Any]:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.flushdb()
    except Exception as exc:  # no Redis here
        need_service(f"Redis not reachable at {REDIS_URL}: {exc.__class__.__name__}")
    yield client
    client.flushdb()


@pytest.mark.redis
def test_a_killed_process_s_slots_are_dropped_once_its_key_expired(store: Any) -> None:
    a, b = "exam:presence:aaaa", "exam:presence:bbbb"
    for sid in ("s1", "s2", "s3"):
        assert sockets.take(store, 7, f"{a}:{sid}", cap=3)
    assert not sockets.take(store, 7, f"{b}:s4", cap=3)  # three held while process A lives
    assert store.ttl(a) > 0  # its first take made A's key, so its slots live until its heartbeat runs
    assert sockets.held_count(store, 7) == 3
    store.delete(a)  # A was killed and its key expired
    assert sockets.held_count(store, 7) == 0
    assert sockets.take(store, 7, f"{b}:s4", cap=3)
    assert [m.decode() for m in store.zrange("exam:sockets:7", 0, -1)] == [f"{b}:s4"]


@pytest.mark.redis
def test_a_release_that_failed_is_made_by_the_next_heartbeat(store: Any) -> None:
    member = "exam:presence:cccc:s1"
    assert sockets.take(store, 8, member, cap=3)

    class Away:
        def zrem(self, *_args: Any) -> None:
            raise ConnectionError("Redis away")

    sockets.give_back(Away(), 8, member)
    assert sockets.held_count(store, 8) == 1
    sockets.give_back_unreleased(store)
    assert sockets.held_count(store, 8) == 0


class CountingStore:
    """Records the commands the heartbeat sends."""

    def __init__(self) -> None:
        self.commands: list[str] = []

    def __getattr__(self, name: str) -> Any:
        def command(*_args: Any, **_kwargs: Any) -> None:
            self.commands.append(name)

        return command


def _one_round(_seconds: float) -> None:
    raise SystemExit  # the heartbeat's sleep: one round is enough


def test_the_heartbeat_is_one_command_however_many_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    connections = {f"sid{n}": {"candidate_id": n, "attempt_id": n} for n in range(1000)}
    monkeypatch.setattr(events, "_connections", connections)
    monkeypatch.setattr(events.socketio, "sleep", _one_round)
    store = CountingStore()
    with pytest.raises(SystemExit):
        events._publish_presence_forever(store)
    assert store.commands == ["set"]
