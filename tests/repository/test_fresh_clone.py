"""The repository stands alone: a clone in an empty folder runs the README's demo command.

The README's test command is run the same way by `.ci/run` (it clones into an empty temporary folder and runs
the suite there), so together the two commands are proved where nothing sits beside the clone.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from browser_support import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def readme_commands() -> list[str]:
    """The README's bash blocks that come before its first section: the demo command, then the test command."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    head = text.split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", head, re.S)]


def test_the_readme_starts_with_the_two_commands() -> None:
    demo, tests = readme_commands()
    assert demo.endswith("examctl demo")
    assert tests.endswith("pytest -n auto --dist loadgroup")  # one worker per core, Redis publishers on one
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert tests in ci, ".ci/run must run exactly the README's test command"


def _clone(into: Path) -> Path:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: nothing to clone")
    target = into / "baoan-exam"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(target)], check=True)
    return target


def _wait_for_login_page(port: int, process: subprocess.Popen[bytes], limit_s: float) -> None:
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if process.poll() is not None:
            return
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)


def test_a_clone_in_an_empty_folder_runs_the_demo(tmp_path: Path) -> None:
    clone = _clone(tmp_path)
    assert not (tmp_path / "shared").exists()
    demo, _ = readme_commands()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "VIRTUAL_ENV", "SOCKETIO_MESSAGE_QUEUE")}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if "/.venv/" not in p + "/")
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["bash", "-c", f"{demo} --port {port}"], cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_for_login_page(port, process, limit_s=900)
            output = log.read_text(encoding="utf-8", errors="replace")
            assert process.poll() is None, f"the demo stopped:\n{output[-3000:]}"
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as answer:
                assert answer.status == 200
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
    assert "准考证号" in output and "密码" in output, output[-3000:]
    assert (clone / "instance").exists(), "the demo keeps its database inside the clone"
