"""Where a restarted exam server's time goes in its first seconds: `load.py --profile-restart S`.

After the kill, the new server process is sampled with py-spy (`py-spy record --format raw`, blocking mode so
every sample is a whole stack: it slows the server by a few per cent) for S seconds from its start: its loading,
then every candidate's reconnect (WebSocket handshake, Socket.IO connect, login cookie and ticket, join) and the
answers the already rejoined send meanwhile. Each sampled stack is put in the first part whose pattern it matches;
the report gives each part's share of the samples and its seconds, and how busy the process was (its CPU time over
the same seconds, from /proc), which says whether the restart window is bound by the server's one core.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

# (part, pattern over the stack as py-spy's raw format writes it: frames `function (file:line)` joined by `;`).
# First match wins, so a handler's own work is counted before the event plumbing around it.
PARTS: list[tuple[str, str]] = [
    ("start-up: imports and the app's creation", r"_find_and_load|<module> \(exam_server/entry\.py|click/core\.py"),
    ("thread pool (another thread, not the loop)", r"gevent/threadpool\.py"),
    ("save: the handler", r"on_save \(exam_server"),
    ("join: the handler", r"_join \(exam_server"),  # on_join's, or _join's (the join a connect carries)
    ("each event: its log line and request id", r"_logged\.<locals>\.run .*(Logger\.|new_request_id)"),
    ("start, flag, submit: the handlers", r"on_(start|flag|submit) \(exam_server"),
    ("connect: login cookie checked", r"_handle_connect \(socketio.*open_session"),
    ("connect: ticket loaded", r"on_connect \(exam_server.*(_load_user|load_principal)"),
    ("connect: the handler's rest (socket slot)", r"on_connect \(exam_server"),
    ("disconnect (of the killed process's sockets: none)", r"on_disconnect \(exam_server"),
    ("each event: Flask request context", r"SocketIO\._handle_event .*(RequestContext|request_context)"),
    # Events run in greenlets of their own, from Socket.IO's dispatch; the handshake runs in the connection's
    # greenlet through Flask-SocketIO's WSGI middleware and Engine.IO, where the socket's frames are then read.
    ("each event: Socket.IO dispatch and acknowledgement", r"_handle_(eio_message|event_internal) \(socketio/"),
    ("WebSocket frames read and written", r"engineio/socket\.py|geventwebsocket/websocket\.py"),
    ("handshake: HTTP request and WebSocket upgrade", r"gevent/pywsgi\.py|geventwebsocket/handler\.py|engineio/"),
    ("deadline sweeper", r"delivery/sweeper\.py"),
    ("garbage collector's freeze", r"core/collector\.py"),
    ("event loop (gevent's hub)", r"gevent/"),
]
_COMPILED = [(name, re.compile(pattern)) for name, pattern in PARTS]
OTHER = "other"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100  # /proc's unit of CPU time


def parts_of(raw_lines: Iterable[str]) -> Counter[str]:
    """Samples by part from py-spy's raw output (`stack count` per line)."""
    samples: Counter[str] = Counter()
    for line in raw_lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        part = next((name for name, pattern in _COMPILED if pattern.search(stack)), OTHER)
        samples[part] += int(count)
    return samples


def cpu_seconds(pid: int) -> float | None:
    """The process's user + system CPU time so far, or None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


@dataclass
class RestartProfile:
    """Samples one restarted server process for `seconds` from its start (see the module docstring)."""

    seconds: float
    out: Path
    rate: int = 250
    problem: str | None = None
    _sampler: subprocess.Popen[bytes] | None = None
    _cpu: list[float | None] = field(default_factory=list)

    def attach(self, pid: int) -> None:
        """Begin sampling `pid` (called right after the server process is spawned)."""
        py_spy = shutil.which("py-spy")
        if py_spy is None:
            self.problem = "py-spy is not installed (pip install py-spy)"
            return
        self.out.unlink(missing_ok=True)
        self._sampler = subprocess.Popen(
            [py_spy, "record", "--pid", str(pid), "--duration", str(max(1, round(self.seconds))),
             "--rate", str(self.rate), "--format", "raw", "--output", str(self.out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._cpu = [cpu_seconds(pid)]
        timer = threading.Timer(self.seconds, lambda: self._cpu.append(cpu_seconds(pid)))
        timer.daemon = True
        timer.start()

    def report(self) -> list[str]:
        """The report's lines (waits for the sampler to finish)."""
        if self._sampler is None:
            return [f"  restart profile: none ({self.problem or 'the server was not restarted'})"]
        _, err = self._sampler.communicate(timeout=self.seconds + 60)
        if self._sampler.returncode != 0 or not self.out.exists():
            why = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            return [f"  restart profile: py-spy failed ({why[0]}); it needs ptrace rights (root or CAP_SYS_PTRACE)"]
        samples = parts_of(self.out.read_text(errors="replace").splitlines())
        total = sum(samples.values()) or 1
        cpu = self._cpu + [None] * (2 - len(self._cpu))
        busy = (f"{(cpu[1] - cpu[0]) / self.seconds:.0%} of one core"
                if cpu[0] is not None and cpu[1] is not None else "unknown")
        lines = [f"  restart profile: the restarted server's first {self.seconds:.0f} s, {total} samples at "
                 f"{self.rate}/s (py-spy, {self.out}); the process was busy {busy}"]
        for name, count in sorted(samples.items(), key=lambda kv: -kv[1]):
            lines.append(f"    {count / total:6.1%} {count / self.rate:6.2f} s  {name}")
        return lines
