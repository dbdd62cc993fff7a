"""Building the app does not import the heavy libraries that only some staff screens and commands need."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent

# Imported on first use by the code that needs them: plots (matplotlib), item analysis, grader agreement
# and session scoring (pandas, threadpoolctl), migrations (alembic), paper assembly (highspy, scipy),
# ticket and seating PDFs (reportlab).
LAZY = ("matplotlib", "pandas", "threadpoolctl", "alembic", "highspy", "scipy", "reportlab")


def test_create_app_leaves_the_heavy_libraries_unimported(tmp_path: Path) -> None:
    """On exam day a server process that dies is restarted while candidates wait, and every second
    before it listens again is a second their pages cannot save answers. Together these libraries take
    well over a second to import (about half the start-up) and no candidate request needs them, so they
    are imported by the code that uses them, not with the web layer; this catches a module-level import
    sneaking back in.

    A fresh interpreter, since this test process has long imported all of them.
    """
    url = f"sqlite:///{tmp_path / 'startup.db'}"
    code = (
        "import json, sys\n"
        "from exam_server import create_app\n"
        f"create_app({{'DATABASE_URL': {url!r}, 'SECRET_KEY': 'x'}})\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(LAZY)!r}))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == [], f"create_app imported {loaded}; import them where they are used instead"
