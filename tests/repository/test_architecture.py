"""The layers hold: import-linter's contracts (setup.cfg) and no imports of the project's own code inside functions."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import need_service

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("exam_server", "item_bank", "scoring")

# The only function-level imports of our own code, each with the reason it must wait.
DEFERRED_ON_PURPOSE = {
    # gevent's monkey patches must be installed before Flask, SQLAlchemy and the drivers are imported.
    "exam_server/__init__.py": "create_app",
    "exam_server/entry.py": "main",
    "exam_server/cli.py": "_create_app",
}


def _own_imports_in_functions(path: Path) -> list[tuple[str, int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[str, int, str]] = []
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(func):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.ImportFrom) and node.level > 0:
                names = ["(relative)"]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name == "(relative)" or name.split(".")[0] in PACKAGES:
                    found.append((func.name, node.lineno, name))
    return found


def test_no_function_level_imports_of_our_own_code() -> None:
    offenders = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if "/migrations/" in rel:
                continue
            for func, line, name in _own_imports_in_functions(path):
                if DEFERRED_ON_PURPOSE.get(rel) == func:
                    continue
                offenders.append(f"{rel}:{line} {func}() imports {name}")
    assert not offenders, "imports inside functions hide cycles between layers:\n" + "\n".join(offenders)


def test_import_linter_contracts_hold() -> None:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(exe).exists():
        need_service("import-linter is not installed (pip install -e '.[test]')")
    run = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "BROKEN" not in run.stdout


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_directory_is_a_package(package: str) -> None:
    # import-linter and grimp only see modules in packages: a folder without __init__.py would escape the contracts.
    for folder in (ROOT / package).rglob("*"):
        if folder.is_dir() and any(folder.glob("*.py")) and "migrations" not in folder.parts \
                and "__pycache__" not in folder.parts:
            assert (folder / "__init__.py").exists(), f"{folder.relative_to(ROOT)} has no __init__.py"
