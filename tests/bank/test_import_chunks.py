"""An import writes in short transactions (SQLite's one write lock is shared with candidates' saves) and is
still all or nothing: a failure mid-way, or a process killed mid-way, leaves the bank exactly as it was, and a
candidate's save during an import is acknowledged while the import is still running (issue 13)."""

from __future__ import annotations

import csv
import io
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import Sitting
from delivery_support import save, started
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

import item_bank.importing as importing
from exam_server.extensions import db
from item_bank.audit import AuditEvent
from item_bank.batches import pending_batches
from item_bank.db import make_session_factory
from item_bank.importing import import_items, undo_interrupted_imports
from item_bank.models import Item, ItemSet, ItemVersion, MediaFile, ReviewComment


def bank_file(shared_bank_csv: Path, path: Path, new: int, changed: int = 0, offset: int = 0) -> Path:
    """`new` items the bank does not have (rows of the shared bank under new ids, stems changed), then `changed`
    of the shared bank's first items with a reworded stem (new versions of items the bank has)."""
    with shared_bank_csv.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for i in range(new):
        row = list(body[(offset + i) % len(body)])
        row[0] = f"NEW-{offset + i:05d}"
        row[2] = f"（第{offset + i}题）{row[2]}"
        writer.writerow(row)
    for i in range(changed):
        row = list(body[i * 4])  # items of the small bank the sitting seeded
        row[2] = f"{row[2]}（修订）"
        writer.writerow(row)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def snapshot(session: Session) -> dict[str, Any]:
    """Everything an import may write, as rows: what "the bank exactly as before" compares."""
    session.expire_all()
    state = {
        "items": set(session.execute(select(Item.id, Item.external_id, Item.current_version_id,
                                            Item.head_version_id)).all()),
        "versions": set(session.execute(select(ItemVersion.id, ItemVersion.item_id, ItemVersion.version_no,
                                               ItemVersion.status)).all()),
        "sets": set(session.execute(select(ItemSet.id, ItemSet.external_id, ItemSet.title,
                                           ItemSet.stimulus)).all()),
        "media": set(session.scalars(select(MediaFile.sha256))),
        "comments": set(session.execute(select(ReviewComment.id, ReviewComment.item_version_id)).all()),
    }
    session.commit()
    return state


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importing, "CHUNK_ROWS", 3)
    monkeypatch.setattr(importing, "CHUNK_ROWS_ROW_LOCKS", 3)
    monkeypatch.setattr(importing, "CHUNK_PAUSE_S", 0.0)


def failing_after(calls: int, real: Any) -> Any:
    seen = {"n": 0}

    def write(*args: Any, **kwargs: Any) -> Any:
        seen["n"] += 1
        if seen["n"] > calls:
            raise RuntimeError("injected: the database went away mid-import")
        return real(*args, **kwargs)

    return write


def test_an_import_writes_in_chunks_journalled_under_one_run(
    session: Session, shared_bank_csv: Path, small_bank_csv: Path, tmp_path: Path, small_chunks: None
) -> None:
    import_items(session, small_bank_csv, actor="test:seed", author_id=1)
    path = bank_file(shared_bank_csv, tmp_path / "new.csv", new=10, changed=2)
    report = import_items(session, path, actor="test:importer", author_id=2)
    assert (report.created, report.new_versions) == (10, 2)
    run = session.scalars(select(AuditEvent.id).where(AuditEvent.action == importing.STARTED_ACTION)).all()[-1]
    journal = session.scalars(select(AuditEvent).where(AuditEvent.entity_id == str(run),
                                                       AuditEvent.entity == importing.RUN_ENTITY)).all()
    assert [e.action for e in journal] == [importing.CHUNK_ACTION] * 4 + [importing.ENDED_ACTION]  # 10 new, 3 a chunk
    assert journal[-1].after == {"outcome": "done", "batch": report.batch_id}
    assert {b.id for b in pending_batches(session)} >= {report.batch_id}
    assert len(session.get(AuditEvent, report.batch_id).after["versions"]) == 12


@pytest.mark.parametrize("where", ["a chunk of new items", "the last transaction"])
def test_a_failure_mid_way_leaves_the_bank_exactly_as_before(
    session: Session, shared_bank_csv: Path, small_bank_csv: Path, tmp_path: Path, small_chunks: None,
    monkeypatch: pytest.MonkeyPatch, where: str,
) -> None:
    import_items(session, small_bank_csv, actor="test:seed", author_id=1)
    before = snapshot(session)
    path = bank_file(shared_bank_csv, tmp_path / "new.csv", new=10, changed=2)
    if where == "a chunk of new items":
        monkeypatch.setattr(importing, "store_new_items", failing_after(2, importing.store_new_items))
    else:
        monkeypatch.setattr(importing, "store_updates", failing_after(0, importing.store_updates))
    with pytest.raises(RuntimeError, match="injected"):
        import_items(session, path, actor="test:importer", author_id=2)
    assert snapshot(session) == before
    ended = session.scalars(select(AuditEvent).where(AuditEvent.action == importing.ENDED_ACTION)).all()[-1]
    assert ended.after["outcome"] == "undone"
    assert not session.scalars(select(AuditEvent).where(AuditEvent.action == importing.IMPORT_ACTION,
                                                        AuditEvent.actor == "test:importer")).all()
    # The same file imports afterwards as if nothing had been tried.
    monkeypatch.undo()
    report = import_items(session, path, actor="test:importer", author_id=2)
    assert (report.created, report.new_versions) == (10, 2)


def test_an_import_whose_process_died_mid_way_is_undone_once_it_is_stale(
    session: Session, shared_bank_csv: Path, small_bank_csv: Path, tmp_path: Path, small_chunks: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import_items(session, small_bank_csv, actor="test:seed", author_id=1)
    before = snapshot(session)
    path = bank_file(shared_bank_csv, tmp_path / "new.csv", new=10)
    with monkeypatch.context() as patch:
        # The process dies after two chunks: nothing runs the undo.
        patch.setattr(importing, "store_new_items", failing_after(2, importing.store_new_items))
        patch.setattr(importing, "undo_import", lambda *_args, **_kwargs: None)
        with pytest.raises(RuntimeError, match="injected"):
            import_items(session, path, actor="test:importer", author_id=2)
    assert len(snapshot(session)["items"]) == len(before["items"]) + 6
    assert undo_interrupted_imports(session) == []  # a run written to moments ago may be alive elsewhere
    (run,) = undo_interrupted_imports(session, stale_after_s=0)
    assert snapshot(session) == before
    assert undo_interrupted_imports(session, stale_after_s=0) == []
    assert session.scalar(select(AuditEvent.after).where(AuditEvent.action == importing.ENDED_ACTION,
                                                         AuditEvent.entity_id == str(run)))["outcome"] == "undone"


def test_a_dry_run_writes_nothing_not_even_its_journal(
    session: Session, shared_bank_csv: Path, small_bank_csv: Path, tmp_path: Path
) -> None:
    import_items(session, small_bank_csv, actor="test:seed", author_id=1)
    before = snapshot(session)
    events = len(session.scalars(select(AuditEvent.id)).all())
    report = import_items(session, bank_file(shared_bank_csv, tmp_path / "new.csv", new=10, changed=2),
                          actor="test:importer", author_id=2, dry_run=True)
    assert (report.created, report.new_versions) == (10, 2)
    assert snapshot(session) == before
    assert len(session.scalars(select(AuditEvent.id)).all()) == events


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_candidates_save_during_an_import_is_acknowledged_while_the_import_runs(
    app: Flask, client: FlaskClient, sitting: Sitting, session: Session, shared_bank_csv: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The import runs in another thread on its own connection; once it has written its first chunk the candidate
    saves. Each save is acknowledged while the import is still writing: it took SQLite's write lock between two
    chunks (an import in one transaction held it until the end, and the save waited for all of it)."""
    monkeypatch.setattr(importing, "CHUNK_ROWS", 2)
    sock, attempt_id, items = started(app, client, sitting)
    session.commit()
    path = bank_file(shared_bank_csv, tmp_path / "big.csv", new=400, offset=1000)
    first_chunk = threading.Event()
    outcome: list[Any] = []

    def run_import() -> None:
        with make_session_factory(db.engine)() as own:
            try:
                outcome.append(import_items(own, path, actor="test:importer", author_id=None))
            except Exception as exc:  # reported below
                outcome.append(exc)
            finally:
                first_chunk.set()

    monkeypatch.setattr(importing, "store_new_items", _signalling(importing.store_new_items, first_chunk))
    importer = threading.Thread(target=run_import)
    importer.start()
    assert first_chunk.wait(120)
    acked_during = []
    for seq, entry in enumerate(items[:3], start=1):
        ack = save(sock, attempt_id, entry["item_id"], entry["options"][0]["id"], seq)
        assert ack["ok"], ack
        acked_during.append(importer.is_alive())
    importer.join(300)
    assert not importer.is_alive()
    assert len(outcome) == 1 and not isinstance(outcome[0], Exception), outcome
    assert outcome[0].created == 400
    assert all(acked_during), acked_during


def _signalling(real: Any, event: threading.Event) -> Any:
    def write(*args: Any, **kwargs: Any) -> Any:
        written = real(*args, **kwargs)
        event.set()  # inside the chunk's transaction: the save now waits at most for this chunk's commit
        return written

    return write
