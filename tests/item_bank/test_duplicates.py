"""Near duplicates: a reworded copy is caught, a deliberate variant with another answer is not, and the
finder sees an exact copy (options in another order) of a bank item without flagging the item itself."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from item_bank.duplicates import (
    DUPLICATE_THRESHOLD,
    DuplicateFinder,
    find_duplicates,
    fingerprint,
    similarity,
)
from item_bank.exchange.store import DUPLICATE_THRESHOLD as IMPORT_THRESHOLD
from item_bank.importing import import_items
from item_bank.models import Item
from item_bank.text import normalise_stem
from item_bank.text import similarity as stem_similarity

STEM = "保安员在防火巡查时，以下项目中不需要检查的是（ ）。"
OPTIONS = ["防火门、防火卷帘等设施均处于正常状态", "消防安全标志是否完好", "消防安全重点部位的人员在岗情况",
           "本单位人员是否掌握灭火器材使用方法"]  # fmt: skip


def test_a_lightly_reworded_copy_is_caught_where_the_stem_measure_missed_it() -> None:
    # Clauses swapped, 的 added, full-width punctuation changed, options shuffled (the key follows them).
    copy = "以下项目中，保安员在防火的巡查时不需要检查的是( )"
    assert stem_similarity(normalise_stem(STEM), normalise_stem(copy)) < 0.9  # the old measure missed it
    shuffled = [OPTIONS[3], OPTIONS[0], OPTIONS[2], OPTIONS[1]]
    score = similarity(
        fingerprint(STEM, {"options": OPTIONS}, "D"), fingerprint(copy, {"options": shuffled}, "A")
    )
    assert score >= DUPLICATE_THRESHOLD == IMPORT_THRESHOLD


def test_a_variant_with_another_answer_is_not_a_duplicate() -> None:
    """The bank holds 属于 / 不属于 pairs over the same options on purpose: the answer tells them apart."""
    a = fingerprint(
        "根据规定，下列属于保安员义务的是（ ）。", {"options": ["遵守纪律", "保守秘密", "登记车辆"]}, "A"
    )
    b = fingerprint(
        "根据规定，下列不属于保安员义务的是（ ）。", {"options": ["遵守纪律", "保守秘密", "开展守护"]}, "C"
    )
    assert similarity(a, b) < DUPLICATE_THRESHOLD


def test_fill_in_answers_count_as_the_answer() -> None:
    a = fingerprint("火警电话是____。", {}, [["119"]])
    b = fingerprint("火警电话是____。", {}, [["110"]])
    assert similarity(a, a) == 1.0 and similarity(a, b) < 1.0


def _bank(tmp_path: Path) -> Path:
    path = tmp_path / "bank.csv"
    options = '"[""' + '"", ""'.join(OPTIONS) + '""]"'
    path.write_text(
        "id,type,stem,options,answer,knowledge_area,source\n"
        f"D-1,single,{STEM},{options},D,消防安全,s\n"
        'D-2,judge,保安员应当文明执勤。,"[""正确"", ""错误""]",A,消防安全,s\n',
        encoding="utf-8",
    )
    return path


def test_the_finder_flags_an_exact_copy_but_not_the_item_itself(session: Session, tmp_path: Path) -> None:
    import_items(session, _bank(tmp_path), actor="cli:test")
    d1 = session.scalar(select(Item).where(Item.external_id == "D-1"))
    assert d1 is not None
    reordered = {"options": [OPTIONS[1], OPTIONS[0], OPTIONS[3], OPTIONS[2]]}
    hits = find_duplicates(session, STEM, reordered, "C")
    assert [(h.external_id, h.score, h.exact) for h in hits] == [("D-1", 1.0, True)]
    # Editing D-1 itself is no duplicate of D-1.
    assert find_duplicates(session, STEM, reordered, "C", exclude_item=d1.id) == []
    finder = DuplicateFinder(session, exclude_ids={"D-2"})
    assert finder.best(fingerprint("保安员应当文明执勤。", {"options": ["正确", "错误"]}, "A")) is None


def test_the_cached_bank_finder_sees_items_added_after_it_was_built(session: Session, tmp_path: Path) -> None:
    assert find_duplicates(session, STEM, {"options": OPTIONS}, "D") == []  # builds and caches the finder
    import_items(session, _bank(tmp_path), actor="cli:test")
    assert [h.external_id for h in find_duplicates(session, STEM, {"options": OPTIONS}, "D")] == ["D-1"]
