"""Item types: one module per type (the way Moodle's question engine gives each type its folder), and
`TYPES` below, the one list of them.

Everything about a type lives in its module (`single`, `multiple`, `judge`, `fill`, `short`, `essay`,
`item_set`) on the shared bases of `base` (every type), `choice` (option types) and `human` (types people
grade): validation and its Chinese messages, the candidate's view, answer checks, the scoring method and
rule it names, its flat-file, JSON and QTI mapping, labels and hints, the exam page's renderer. Blueprint
section types, labels, the exchange formats, the exam page and batch scoring all ask this registry;
none of them lists types itself.
"""

from __future__ import annotations

from typing import Any

from item_bank.exchange.qti_xml import QtiItem, QtiRead
from item_bank.types.base import (
    LETTERS,
    ContentProblem,
    HumanGradedError,
    ItemContent,
    ItemType,
    RowCells,
    lookup,
)
from item_bank.types.choice import ChoiceType
from item_bank.types.essay import Essay
from item_bank.types.fill import BLANK_MARKER, FillIn, count_blanks
from item_bank.types.human import HumanGraded
from item_bank.types.item_set import ItemSetType
from item_bank.types.judge import TrueFalse
from item_bank.types.multiple import MultipleResponse
from item_bank.types.short import ShortAnswer
from item_bank.types.single import SingleChoice
from scoring.rules import ItemScoring, ScoringError, score_value

#: Every item type, in the order screens, files and blueprints list them.
TYPES: tuple[type[ItemType], ...] = (
    SingleChoice,
    MultipleResponse,
    TrueFalse,
    FillIn,
    ShortAnswer,
    Essay,
    ItemSetType,
)
ItemType.registry.update((t.name, t) for t in TYPES)


def item_type(name: str) -> ItemType:
    """The type registered as `name`; KeyError names the unknown type."""
    return lookup(name)


def item_types() -> list[ItemType]:
    """Every type, in registry order."""
    return [t() for t in TYPES]


def answerable_types() -> list[ItemType]:
    """The types a candidate answers: what blueprint sections, the bank's editor and item files hold."""
    return [t for t in item_types() if t.answerable]


def section_types() -> tuple[str, ...]:
    """The type names a blueprint section may have."""
    return tuple(t.name for t in answerable_types())


def type_labels() -> dict[str, str]:
    """name -> Chinese label (单选题) of the answerable types."""
    return {t.name: t.label for t in answerable_types()}


def short_labels() -> dict[str, str]:
    """name -> short Chinese label (单选) of every type, for tables and replays."""
    return {t.name: t.short_label for t in item_types()}


def column_labels() -> dict[str, str]:
    """name -> the word for the type in the 题型 column of Excel and CSV files, every type."""
    return {t.name: t.column_label for t in item_types()}


def type_aliases() -> dict[str, str]:
    """Every spelling of a type an import file may use (name, labels, aliases) -> its name."""
    return {
        spelling: t.name
        for t in item_types()
        for spelling in (t.name, t.short_label, t.label, t.column_label, *t.aliases)
    }


def scoring_rule_for(type_name: str, section_rule: Any = None) -> ItemScoring:
    """How a form item of `type_name` is scored, given its section's rule: what batch scoring reads
    (`ItemScoring.method` picks the path, `.rule` is the option rule code, `.counts` whether it has points)."""
    return lookup(type_name).scoring(section_rule)


def score_response(type_name: str, key: Any, value: Any, points: float, rule: Any = "exact") -> float:
    """Points earned by one response to an item of `type_name`; an omitted answer (None, "", []) earns 0.

    single/judge/multiple take letters ("ACD"); fill-in takes a list of strings, one per blank.
    """
    try:
        scoring = lookup(type_name.strip().lower()).scoring(rule)
    except KeyError:
        scoring = None
    if scoring is None or not scoring.automatic:
        raise ScoringError(f"题型 {type_name!r} 不能自动评分（not auto-scored; graded by people）")
    return score_value(scoring, key, value, points)


def client_catalogue() -> dict[str, dict[str, str]]:
    """What the exam page needs of each type it shows: label, renderer and the hint under the item."""
    return {
        t.name: {"label": t.label, "renderer": t.renderer, "hint": t.answer_hint}
        for t in item_types()
        if t.renderer is not None
    }


def qti_interactions() -> tuple[str, ...]:
    """The QTI interactions some type is written as (and so can be read from)."""
    return tuple(dict.fromkeys(t.qti_interaction for t in item_types() if t.qti_interaction))


def read_qti_item(interaction: str, item: QtiItem, named: Any = None) -> tuple[ItemType, QtiRead]:
    """The type and content of a QTI item with `interaction`: the type the package `named` if it is one
    of that interaction's, else the one whose `qti_match` fits the item best."""
    candidates = [t for t in item_types() if t.qti_interaction == interaction]
    read = candidates[0].qti_read(item)
    chosen = next((t for t in candidates if t.name == named), None)
    return chosen or max(candidates, key=lambda t: t.qti_match(read.facts)), read


__all__ = [
    "BLANK_MARKER",
    "LETTERS",
    "TYPES",
    "ChoiceType",
    "ContentProblem",
    "Essay",
    "FillIn",
    "HumanGraded",
    "HumanGradedError",
    "ItemContent",
    "ItemSetType",
    "ItemType",
    "MultipleResponse",
    "RowCells",
    "ShortAnswer",
    "SingleChoice",
    "TrueFalse",
    "answerable_types",
    "client_catalogue",
    "column_labels",
    "count_blanks",
    "item_type",
    "item_types",
    "qti_interactions",
    "read_qti_item",
    "score_response",
    "scoring_rule_for",
    "section_types",
    "short_labels",
    "type_aliases",
    "type_labels",
]
