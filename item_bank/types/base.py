"""What every item type is: the base class of the registry's types and the plain values they work on.

An item type (Moodle's question type) knows everything about its items: how their content is checked,
with Chinese reasons; what the candidate sees (never the key) and which exam-page renderer shows it;
whether an answer value is well formed and given; how it is scored (it names a `scoring.rules.Method`
and rule, and scoring itself knows no types); how it travels in flat files (Excel, CSV, JSON) and QTI
packages; its Chinese labels and hints. Answer values are the wire format of DESIGN.md §7: option
letters for choice types ("B", sorted "ACD"), a list of strings for fill-in, text for what people grade,
None for no answer.
"""

from __future__ import annotations

import string
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from item_bank.exchange.qti_xml import QtiItem, QtiRead
from item_bank.exchange.records import ItemRecord
from item_bank.kernel.errors import DomainError
from scoring.rules import ItemScoring, Method, Rule, score_value

LETTERS = string.ascii_uppercase


@dataclass
class ContentProblem:
    """One thing wrong with an item's content: the field and a reason a person can act on."""

    field: str
    reason: str


@dataclass
class ItemContent:
    """What a type needs to validate, render and score an item version, independent of storage."""

    type: str
    stem: str
    content: dict[str, Any] = field(default_factory=dict)
    key: Any = None
    points: float = 1.0
    #: Image references ({"sha256", "name", "mime"}); the web layer turns them into URLs.
    media: list[dict[str, Any]] = field(default_factory=list)


class HumanGradedError(DomainError):
    """A human-graded item (or an item set's stimulus) was asked for a rule-based score."""

    default_code = "not_auto_scored"
    default_status = 422


class RowCells(Protocol):
    """One row of a flat file (Excel, CSV) as an item type reads it."""

    def cell(self, field: str) -> str:
        """The text of canonical column `field` ("answer", "rubric" ...), "" when absent."""
        ...

    def options(self) -> list[str] | None:
        """The row's options in order A, B ...; None when they could not be read (already reported)."""
        ...

    def problem(self, field: str, reason: str) -> None:
        """Report what is wrong with column `field` of this row."""
        ...


class ItemType:
    """Base of every item type; the registry (`item_bank.types`) lists the concrete ones by `name`."""

    #: Stored in `ItemVersion.type`, sent to the exam page, used in blueprints.
    name: ClassVar[str]
    #: The Chinese name on every screen and in files: 单选题.
    label: ClassVar[str]
    #: The short form of tables and replays: 单选.
    short_label: ClassVar[str]
    #: Other names import files may give the type (its name and labels are always accepted).
    aliases: ClassVar[tuple[str, ...]] = ()
    #: How responses become points (scoring.rules.Method).
    method: ClassVar[Method] = Method.NOTHING
    #: The scoring rules a blueprint section of this type may choose; the first is the default.
    scoring_rules: ClassVar[tuple[str, ...]] = ("exact",)
    #: The exam page's renderer of the type (client/src/exam/exam.js), None if not shown on its own.
    renderer: ClassVar[str | None] = None
    #: What the exam page tells the candidate under the item ("" for nothing).
    answer_hint: ClassVar[str] = ""
    #: How an import file writes the key, after the label ("" when the type has no key).
    key_hint: ClassVar[str] = ""
    #: What the stem must contain, after the label ("" for nothing special).
    stem_hint: ClassVar[str] = ""
    #: Options a file may leave out (judge: 正确 / 错误).
    default_options: ClassVar[tuple[str, ...]] = ()
    #: Whether the paper may shuffle the item's options (a blueprint section's shuffle_options).
    shuffles_options: ClassVar[bool] = False
    #: A candidate answers it (False for an item set's stimulus, which only accompanies items).
    answerable: ClassVar[bool] = True
    #: The QTI 2.1 interaction the type is written as and read from.
    qti_interaction: ClassVar[str | None] = None
    #: Why an empty stem is refused.
    empty_stem: ClassVar[str] = "题干不能为空"
    #: (formula over the Excel answer cell `{a}2`, what that cell must hold) for the template's check.
    excel_key_check: ClassVar[tuple[str, str] | None] = None
    #: name -> class of every registered type; filled by `item_bank.types`, the one list of types.
    registry: ClassVar[dict[str, type[ItemType]]] = {}

    @property
    def column_label(self) -> str:
        """The word written in the 题型 column of Excel and CSV files."""
        return self.label

    # ----- content

    def stem_problems(self, item: ItemContent) -> list[ContentProblem]:
        """The refusal of an empty stem, if the stem is empty."""
        return [] if (item.stem or "").strip() else [ContentProblem("stem", self.empty_stem)]

    def validate(self, item: ItemContent) -> list[ContentProblem]:
        """Every problem with the item's content; an empty list means it is valid."""
        problems = self.stem_problems(item)
        if item.points is None or item.points <= 0:
            problems.append(ContentProblem("points", "分值必须大于 0"))
        return problems

    def import_warnings(self, item: ItemContent) -> list[ContentProblem]:
        """What an import should ask a reviewer to confirm about a valid item."""
        return []

    def render(self, item: ItemContent, option_order: list[str] | None = None) -> dict[str, Any]:
        """The candidate's view of the item: no key, options in `option_order` if given."""
        view: dict[str, Any] = {"type": self.name, "stem": item.stem}
        if item.media:
            view["media"] = [{"sha256": m.get("sha256"), "name": m.get("name", "")} for m in item.media]
        return view

    # ----- answers and scoring

    def check_value(self, item: ItemContent, value: Any) -> str | None:
        """None if `value` is a well-formed answer to this item, else the reason it is not."""
        return None

    def value_limit(self, item: ItemContent) -> int:
        """The most characters an answer to `item` may hold in all (a longer one is refused as too large
        before it is checked or stored); option letters fit in the default, typed answers raise it."""
        return 64

    def is_answered(self, value: Any) -> bool:
        return value not in (None, "", [])

    @property
    def auto_scored(self) -> bool:
        """Scored by rules (True) or by people through grading tasks (False)."""
        return self.scoring().automatic

    def scoring(self, section_rule: Rule | str | int | None = None) -> ItemScoring:
        """How a form item of this type is scored: the method and, for option items, the rule its
        blueprint section chose (types with one rule ignore the choice)."""
        default = self.scoring_rules[0]
        chosen = (section_rule or default) if len(self.scoring_rules) > 1 else default
        return ItemScoring(self.method, Rule.parse(chosen))

    def form_rule(self, section_rule: str | None = None) -> str:
        """The scoring rule's name a form item of this type keeps ("exact", "partial" ...)."""
        return self.scoring(section_rule).rule.name.lower()

    def score(self, item: ItemContent, value: Any, rule: str = "exact") -> float:
        """Points earned by `value` (0 for no answer)."""
        return score_value(self.scoring(rule), item.key, value, item.points)

    # ----- flat files (Excel, CSV) and JSON

    def read_row(self, row: RowCells) -> tuple[dict[str, Any], Any] | None:
        """This type's content and key from a flat row; None when the row had a problem (reported)."""
        return {}, None

    def write_row(self, content: Mapping[str, Any], key: Any) -> dict[str, str]:
        """This type's cells of a flat row (the answer, rubric ...); options and metadata are common."""
        return {"answer": "" if key is None else str(key)}

    def read_json(self, obj: Mapping[str, Any], problem: Callable[[str, str], None]) -> dict[str, Any]:
        """This type's own content from a JSON item object; rubric, model answer and explanation are common."""
        return {}

    # ----- QTI 2.1

    def qti_declare(self, root: ET.Element, record: ItemRecord) -> None:
        """The item's response declarations."""

    def qti_body(self, body: ET.Element, record: ItemRecord) -> None:
        """The item's interaction (and whatever travels with it) in the item body."""

    def qti_process(self, root: ET.Element, record: ItemRecord) -> None:
        """The item's response processing (none: people score it)."""

    def qti_read(self, item: QtiItem) -> QtiRead:
        """Stem, content and key of an item whose interaction is this type's."""
        raise NotImplementedError(f"{self.label}不能从 QTI 读取")

    def qti_match(self, facts: Mapping[str, Any]) -> int:
        """How well a read item (`QtiRead.facts`) fits this type: 0 not at all; the best fit of the
        interaction's types wins when the package does not name the type."""
        return 1


def lookup(name: str) -> ItemType:
    """The registered type `name`; KeyError names the unknown type and the known ones."""
    try:
        return ItemType.registry[name]()
    except KeyError:
        raise KeyError(f"未知题型 {name!r}; 已知题型: {', '.join(sorted(ItemType.registry))}") from None
