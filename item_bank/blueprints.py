"""Blueprints (组卷蓝图 / 双向细目表): the spec a paper must meet, its validation, YAML/JSON files and storage.

`BlueprintSpec` is the whole blueprint as plain dataclasses; `Blueprint.spec` stores `spec.to_dict()`.
Every validation problem names the field it is about ("sections[1].count"), so a person editing the
file or the browser form can find it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from item_bank.attributes import COGNITIVE_LEVEL
from item_bank.audit import audit
from item_bank.db import utcnow
from item_bank.kernel.actors import system_actor
from item_bank.kernel.errors import DomainError
from item_bank.models import AreaWeight, Blueprint, KnowledgeArea
from item_bank.tree import PART_LABELS
from item_bank.types import answerable_types, item_type, section_types, type_labels

PARTS = tuple(PART_LABELS)
LEVELS = (1, 2, 3, 4, 5)
# Who wrote a blueprint, when a caller does not say.
DEFAULT_ACTOR = system_actor("blueprints")
SCORING_RULES = ("exact", "all_or_nothing", "partial")
# Types assembly can place (every type a candidate answers; human-graded ones need no key check here).
SECTION_TYPES = section_types()
TYPE_LABELS = type_labels()
# The types whose sections may choose a rule other than "exact" (multiple response).
RULE_CHOOSERS = "、".join(t.label for t in answerable_types() if len(t.scoring_rules) > 1)


@dataclass
class SpecProblem:
    """One thing wrong with a blueprint: the field path and a reason a person can act on."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class BlueprintError(DomainError, ValueError):
    """A blueprint that cannot be used as given; `problems` names every wrong field."""

    default_code = "blueprint_invalid"
    default_status = 422

    def __init__(self, problems: list[SpecProblem] | str, source: str = "") -> None:
        if isinstance(problems, str):
            problems = [SpecProblem("blueprint", problems)]
        head = f"{source}: " if source else ""
        super().__init__(head + "; ".join(str(p) for p in problems), source=source)
        self.problems = problems
        self.source = source


@dataclass
class SectionSpec:
    """One section (大题) of the paper: items of one type, how many, points each, how they are scored."""

    type: str
    count: int
    points: float = 1.0
    scoring_rule: str = "exact"
    title: str = ""
    shuffle_items: bool = True
    shuffle_options: bool = True

    @property
    def label(self) -> str:
        return self.title or TYPE_LABELS.get(self.type, self.type)

    @property
    def total_points(self) -> float:
        return self.count * self.points


@dataclass
class DifficultySpec:
    """A band for the mean classical difficulty p of each form, and how close parallel forms must be."""

    p_min: float = 0.0
    p_max: float = 1.0
    # Items without a p estimate: None excludes them from a blueprint with a band, a number assumes it.
    missing_p: float | None = None
    # Parallel forms whose mean p differ by no more than this count as equally hard.
    parallel_tolerance: float = 0.01


@dataclass
class InformationSpec:
    """A target test information function: the information each form should give at chosen abilities."""

    thetas: list[float] = field(default_factory=list)
    targets: list[float] = field(default_factory=list)
    # Relative tolerance around each target (0.1 = within 10 %), a hard limit.
    tolerance: float = 0.1
    # Relative spread between parallel forms below which they count as equal.
    parallel_tolerance: float = 0.02


RULE_MEASURES = {"count": "题量", "points": "分值"}
# Item statistics an exclusion rule may test (discrimination is the IRT a parameter), and how staff call them.
STAT_FIELDS = {
    "p": "难度 p",
    "discrimination": "区分度 a",
    "irt_b": "IRT 难度 b",
    "irt_c": "IRT 猜测 c",
    "exposure": "曝光次数",
    "item": "题号",
}
EXCLUDE_OPS = ("<", "<=", ">", ">=", "==", "!=", "in", "not in")
OP_WORDS = {"<": "低于", "<=": "不高于", ">": "高于", ">=": "不低于", "==": "等于", "!=": "不等于",
            "in": "属于", "not in": "不属于"}
OBJECTIVES = {"targets": "目标信息量", "maximin": "最大化最小信息量", "reference": "匹配参考卷信息曲线"}
ORDER_BY = {
    "area": "按知识点",
    "easy_first": "由易到难",
    "hard_first": "由难到易",
    COGNITIVE_LEVEL: "按认知层次",
    "id": "按题号",
}
ATTRIBUTE_LABELS = {COGNITIVE_LEVEL: "认知层次"}


@dataclass
class RuleSpec:
    """A range rule: on each form, the items (or points) matching its scope lie in [min, max] ± tolerance.

    The scope is any combination of a knowledge-tree node at any depth (an item counts toward its own
    node and every ancestor), an item type and attribute values (cognitive level, the bank's attributes).
    """

    name: str = ""
    area: str | None = None
    type: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    measure: str = "count"
    min: float | None = None
    max: float | None = None
    tolerance: float = 0.0

    def scope_words(self) -> str:
        parts = []
        if self.area:
            parts.append(f"知识点「{self.area}」")
        for name, value in self.attributes.items():
            parts.append(f"{ATTRIBUTE_LABELS.get(name, name)}「{value}」")
        if self.type:
            parts.append(TYPE_LABELS.get(self.type, self.type))
        return " × ".join(parts) or "全卷"

    def bounds(self) -> tuple[float, float]:
        """The range a form must meet, tolerance included."""
        lo = -math.inf if self.min is None else self.min - self.tolerance
        hi = math.inf if self.max is None else self.max + self.tolerance
        return max(lo, 0.0) if self.min is not None else lo, hi

    def range_words(self) -> str:
        unit = "道" if self.measure == "count" else "分"
        tol = f"（容差 ±{self.tolerance:g}）" if self.tolerance else ""
        if self.min is not None and self.max is not None:
            rng = f"{self.min:g} {unit}" if self.min == self.max else f"{self.min:g}–{self.max:g} {unit}"
        elif self.min is not None:
            rng = f"至少 {self.min:g} {unit}"
        else:
            rng = f"至多 {self.max:g} {unit}"
        return rng + tol

    def words(self) -> str:
        """The rule as the blueprint states it ("知识点「3E」× 认知层次「应用」: 每份 2–4 道")."""
        head = f"{self.name}：" if self.name else ""
        rng = self.range_words()
        return f"{head}{self.scope_words()}每份{'' if rng[0] in '至' else ' '}{rng}"


@dataclass
class GridSpec:
    """The two-way table (知识点 × 认知层次 or another attribute): one count (or points) per cell."""

    attribute: str = COGNITIVE_LEVEL
    measure: str = "count"
    tolerance: float = 0.0
    cells: dict[str, dict[str, float]] = field(default_factory=dict)

    def rules(self) -> list[RuleSpec]:
        return [
            RuleSpec(
                area=area,
                attributes={self.attribute: value},
                measure=self.measure,
                min=n,
                max=n,
                tolerance=self.tolerance,
            )
            for area, row in self.cells.items()
            for value, n in row.items()
        ]


@dataclass
class ExcludeSpec:
    """Items a form may not use: a statistic, an attribute or a list of item numbers tested against a value."""

    field: str
    op: str
    value: Any
    name: str = ""

    def words(self) -> str:
        what = STAT_FIELDS.get(self.field) or ATTRIBUTE_LABELS.get(self.field, self.field)
        value = "、".join(str(v) for v in self.value) if isinstance(self.value, list) else f"{self.value}"
        head = f"{self.name}：" if self.name else ""
        return f"{head}排除{what} {OP_WORDS.get(self.op, self.op)} {value} 的题目"

    def hits(self, value: Any) -> bool:
        """True when an item with this value is excluded (an item without the value is never excluded)."""
        if value is None:
            return False
        want = self.value
        if self.op in ("in", "not in"):
            inside = str(value) in {str(v) for v in (want if isinstance(want, list) else [want])}
            return inside if self.op == "in" else not inside
        if isinstance(value, int | float) and not isinstance(want, str):
            a, b = float(value), float(want)
        else:
            a, b = str(value), str(want)  # type: ignore[assignment]
        if self.op == "==":
            return a == b
        if self.op == "!=":
            return a != b
        try:
            return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[self.op]  # type: ignore[operator]
        except TypeError:
            return False


@dataclass
class ObjectiveSpec:
    """What the solver optimises: today's targets, maximin information at θ points, or a reference curve."""

    kind: str = "targets"
    thetas: list[float] = field(default_factory=list)
    # maximin: information at θ_k must reach weight_k × the maximised level (all 1 by default).
    weights: list[float] = field(default_factory=list)
    # reference: the code of a stored form whose information curve the new forms should match.
    reference_form: str = ""
    tolerance: float = 0.1

    def words(self) -> str:
        thetas = "、".join(f"{t:g}" for t in self.thetas)
        if self.kind == "maximin":
            return f"最大化 θ = {thetas} 处的最小测验信息量"
        if self.kind == "reference":
            return f"匹配参考卷 {self.reference_form} 在 θ = {thetas} 处的信息曲线（±{self.tolerance:.0%}）"
        return "目标信息量与比重目标"


@dataclass
class BlueprintSpec:
    """Everything a blueprint says; see docs in the module and `examples` in the tests."""

    name: str
    level: int
    part: str = "theory"
    duration_s: int = 90 * 60
    pass_mark: float = 60.0
    sections: list[SectionSpec] = field(default_factory=list)
    # Share of the paper's points per knowledge area (code or name), each within ± area_tolerance.
    area_shares: dict[str, float] = field(default_factory=dict)
    area_tolerance: float = 0.03
    # Spread each section's items over the areas like the points (no area takes all true/false items).
    spread_types: bool = True
    difficulty: DifficultySpec | None = None
    information: InformationSpec | None = None
    # Item sets (题组) always travel whole; these limit how they are used.
    item_sets_allowed: bool = True
    max_item_sets: int | None = None
    # Extra enemy groups (item external ids); the bank's own enemy groups always apply.
    enemy_groups: list[list[str]] = field(default_factory=list)
    # Items whose normalised stems are identical (the bank's stem variants) never share a form.
    same_stem_enemies: bool = True
    # Largest share of a form's items that any two parallel forms may have in common.
    max_overlap: float = 0.1
    # An item may appear in at most this many of the forms built together (None: only overlap limits it).
    max_forms_per_item: int | None = None
    # Items already shown to this many attempts or more are not used (None: no limit).
    max_exposure: int | None = None
    # Items used in forms of the last K exam sessions of this level and part are not used.
    exclude_recent_sessions: int = 0
    description: str = ""
    # People's grading and section weights, read by exam_server.grading.rules.GradingRules (all optional):
    # tolerance, tolerance_share, final_rule, panel_rule, defence_weights, mark_step, section_weights.
    grading: dict[str, Any] = field(default_factory=dict)
    # The blueprint language (issue 16): range rules on any tree node / type / attribute and their
    # combinations, the two-way grid, items every form must include, exclusion rules, the order of
    # items within a section and the objective.
    rules: list[RuleSpec] = field(default_factory=list)
    grid: GridSpec | None = None
    include: list[str] = field(default_factory=list)
    exclude: list[ExcludeSpec] = field(default_factory=list)
    order_by: str = "area"
    objective: ObjectiveSpec | None = None

    # ----- derived figures -----
    @property
    def item_count(self) -> int:
        return sum(s.count for s in self.sections)

    @property
    def total_points(self) -> float:
        return sum(s.total_points for s in self.sections)

    def section_for_type(self, item_type: str) -> SectionSpec | None:
        for s in self.sections:
            if s.type == item_type:
                return s
        return None

    def all_rules(self) -> list[RuleSpec]:
        """The range rules and the grid's cells, in that order (what the model and the report check)."""
        return list(self.rules) + (self.grid.rules() if self.grid else [])

    def rule_attributes(self) -> set[str]:
        """Attribute names any rule, grid, exclusion or order rule reads."""
        names = {n for r in self.all_rules() for n in r.attributes}
        names |= {e.field for e in self.exclude if e.field not in STAT_FIELDS}
        if self.order_by == COGNITIVE_LEVEL:
            names.add(COGNITIVE_LEVEL)
        return names

    def info_thetas(self) -> list[float]:
        """The abilities at which item information is needed (targets, or the objective's θ points)."""
        if self.information is not None:
            return list(self.information.thetas)
        if self.objective is not None and self.objective.kind != "targets":
            return list(self.objective.thetas)
        return []

    @property
    def maximin(self) -> bool:
        return self.objective is not None and self.objective.kind == "maximin"

    def level_label(self) -> str:
        return f"{self.level}级"

    def part_label(self) -> str:
        return PART_LABELS.get(self.part, self.part)

    # ----- conversion -----
    def to_dict(self) -> dict[str, Any]:
        """A plain dict (the stored `Blueprint.spec` and the YAML/JSON file body)."""
        data = asdict(self)
        if self.difficulty is None:
            data.pop("difficulty")
        if self.information is None:
            data.pop("information")
        # The language's newer keys stay out of a blueprint that does not use them (old files round-trip).
        for key, empty in (("rules", []), ("grid", None), ("include", []), ("exclude", []),
                           ("order_by", "area"), ("objective", None)):
            if data.get(key) == empty:
                data.pop(key)
        return data

    @classmethod
    def from_dict(cls, data: Any, source: str = "") -> BlueprintSpec:
        """Parse and validate; raises BlueprintError naming every wrong field."""
        return _parse(data, source)

    def validate(self) -> list[SpecProblem]:
        """Every problem with this spec (an empty list means it is usable)."""
        return _validate(self)


# --------------------------------------------------------------------------------------------------
# Parsing and validation


def _num(
    data: dict[str, Any], key: str, path: str, problems: list[SpecProblem], default: Any, kind: type
) -> Any:
    if key not in data or data[key] is None:
        return default
    value = data[key]
    if isinstance(value, bool) and kind is not bool:
        problems.append(SpecProblem(path + key, f"应为数字，实际为 {value!r}"))
        return default
    try:
        if kind is int:
            f = float(value)
            if not f.is_integer():
                raise ValueError
            return int(f)
        if kind is float:
            f = float(value)
            if not math.isfinite(f):
                raise ValueError
            return f
        if kind is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "yes", "1", "是"):
                return True
            if str(value).lower() in ("false", "no", "0", "否"):
                return False
            raise ValueError
    except (TypeError, ValueError):
        want = {int: "整数", float: "数字", bool: "true/false"}[kind]
        problems.append(SpecProblem(path + key, f"应为{want}，实际为 {value!r}"))
        return default
    return value


def _table(data: dict[str, Any], key: str, problems: list[SpecProblem]) -> dict[str, Any] | None:
    """The key-value table under `key`, or None (with a problem when something else stands there)."""
    raw = data.get(key)
    if not raw:
        return None
    if not isinstance(raw, dict):
        problems.append(SpecProblem(key, "应为键值表"))
        return None
    return raw


_TOP_KEYS = {f for f in BlueprintSpec.__dataclass_fields__} | {"duration_min"}


def _parse(data: Any, source: str) -> BlueprintSpec:
    problems: list[SpecProblem] = []
    if not isinstance(data, dict):
        raise BlueprintError([SpecProblem("blueprint", "应为键值表 (a mapping)")], source)
    for key in data:
        if key not in _TOP_KEYS:
            problems.append(SpecProblem(str(key), "未知字段 (unknown field)"))
    name = str(data.get("name") or "").strip()
    level = _num(data, "level", "", problems, 0, int)
    duration_s = _num(data, "duration_s", "", problems, None, int)
    if duration_s is None:
        minutes = _num(data, "duration_min", "", problems, 90, float)
        duration_s = round(minutes * 60)
    sections: list[SectionSpec] = []
    raw_sections = data.get("sections") or []
    if not isinstance(raw_sections, list):
        problems.append(SpecProblem("sections", "应为列表"))
        raw_sections = []
    for i, raw in enumerate(raw_sections):
        path = f"sections[{i}]."
        if not isinstance(raw, dict):
            problems.append(SpecProblem(f"sections[{i}]", "应为键值表"))
            continue
        for key in raw:
            if key not in SectionSpec.__dataclass_fields__:
                problems.append(SpecProblem(path + str(key), "未知字段"))
        sections.append(
            SectionSpec(
                type=str(raw.get("type") or ""),
                count=_num(raw, "count", path, problems, 0, int),
                points=_num(raw, "points", path, problems, 1.0, float),
                scoring_rule=str(raw.get("scoring_rule") or "exact"),
                title=str(raw.get("title") or ""),
                shuffle_items=_num(raw, "shuffle_items", path, problems, True, bool),
                shuffle_options=_num(raw, "shuffle_options", path, problems, True, bool),
            )
        )
    shares_raw = data.get("area_shares") or {}
    area_shares: dict[str, float] = {}
    if not isinstance(shares_raw, dict):
        problems.append(SpecProblem("area_shares", "应为 {知识点: 比重} 键值表"))
    else:
        for code, share in shares_raw.items():
            area_shares[str(code)] = _num({"v": share}, "v", "", [], math.nan, float)
            if math.isnan(area_shares[str(code)]):
                problems.append(SpecProblem(f"area_shares.{code}", f"比重应为数字，实际为 {share!r}"))
    difficulty = None
    raw = _table(data, "difficulty", problems)
    if raw is not None:
        band = raw.get("mean_p")
        p_min = _num(raw, "p_min", "difficulty.", problems, 0.0, float)
        p_max = _num(raw, "p_max", "difficulty.", problems, 1.0, float)
        if isinstance(band, list | tuple) and len(band) == 2:
            p_min, p_max = float(band[0]), float(band[1])
        missing = raw.get("missing_p")
        difficulty = DifficultySpec(
            p_min=p_min,
            p_max=p_max,
            missing_p=None
            if missing in (None, "exclude")
            else _num(raw, "missing_p", "difficulty.", problems, None, float),
            parallel_tolerance=_num(raw, "parallel_tolerance", "difficulty.", problems, 0.01, float),
        )
    information = None
    raw = _table(data, "information", problems)
    if raw is not None:
        try:
            thetas = [float(t) for t in raw.get("thetas") or []]
            targets = [float(t) for t in raw.get("targets") or []]
        except (TypeError, ValueError):
            problems.append(SpecProblem("information.thetas", "能力点与目标信息量应为数字列表"))
            thetas, targets = [], []
        information = InformationSpec(
            thetas=thetas,
            targets=targets,
            tolerance=_num(raw, "tolerance", "information.", problems, 0.1, float),
            parallel_tolerance=_num(raw, "parallel_tolerance", "information.", problems, 0.02, float),
        )
    enemy_groups_raw = data.get("enemy_groups") or []
    enemy_groups: list[list[str]] = []
    if not isinstance(enemy_groups_raw, list):
        problems.append(SpecProblem("enemy_groups", "应为题号列表的列表"))
    else:
        for i, group in enumerate(enemy_groups_raw):
            if not isinstance(group, list):
                problems.append(SpecProblem(f"enemy_groups[{i}]", "应为题号列表"))
                continue
            enemy_groups.append([str(x) for x in group])
    max_sets = data.get("max_item_sets")
    max_fpi = data.get("max_forms_per_item")
    max_exp = data.get("max_exposure")
    spec = BlueprintSpec(
        name=name,
        level=level,
        part=str(data.get("part") or "theory"),
        duration_s=duration_s,
        pass_mark=_num(data, "pass_mark", "", problems, 60.0, float),
        sections=sections,
        area_shares=area_shares,
        area_tolerance=_num(data, "area_tolerance", "", problems, 0.03, float),
        spread_types=_num(data, "spread_types", "", problems, True, bool),
        difficulty=difficulty,
        information=information,
        item_sets_allowed=_num(data, "item_sets_allowed", "", problems, True, bool),
        max_item_sets=None if max_sets is None else _num(data, "max_item_sets", "", problems, None, int),
        enemy_groups=enemy_groups,
        same_stem_enemies=_num(data, "same_stem_enemies", "", problems, True, bool),
        max_overlap=_num(data, "max_overlap", "", problems, 0.1, float),
        max_forms_per_item=None
        if max_fpi is None
        else _num(data, "max_forms_per_item", "", problems, None, int),
        max_exposure=None if max_exp is None else _num(data, "max_exposure", "", problems, None, int),
        exclude_recent_sessions=_num(data, "exclude_recent_sessions", "", problems, 0, int),
        description=str(data.get("description") or ""),
        grading=_grading_dict(data.get("grading"), problems),
        rules=_rules(data.get("rules"), problems),
        grid=_grid(data.get("grid"), problems),
        include=_id_list(data.get("include"), "include", problems),
        exclude=_excludes(data.get("exclude"), problems),
        order_by=str(data.get("order_by") or "area"),
        objective=_objective(data.get("objective"), problems),
    )
    problems.extend(_validate(spec))
    if problems:
        raise BlueprintError(problems, source)
    return spec


def _bound(raw: dict[str, Any], key: str, path: str, problems: list[SpecProblem]) -> float | None:
    if raw.get(key) is None:
        return None
    return _num(raw, key, path, problems, None, float)


_RULE_KEYS = set(RuleSpec.__dataclass_fields__) | {"count", "points", "cognitive_level"}


def _rules(raw: Any, problems: list[SpecProblem]) -> list[RuleSpec]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(SpecProblem("rules", "应为规则列表"))
        return []
    out = []
    for i, r in enumerate(raw):
        path = f"rules[{i}]."
        if not isinstance(r, dict):
            problems.append(SpecProblem(f"rules[{i}]", "应为键值表"))
            continue
        for key in r:
            if key not in _RULE_KEYS:
                problems.append(SpecProblem(path + str(key), "未知字段"))
        attrs = r.get("attributes") or {}
        if not isinstance(attrs, dict):
            problems.append(SpecProblem(path + "attributes", "应为 {属性: 值} 键值表"))
            attrs = {}
        attrs = dict(attrs)
        if r.get("cognitive_level") is not None:  # a shorthand for the first-class attribute
            attrs[COGNITIVE_LEVEL] = r["cognitive_level"]
        measure = str(r.get("measure") or "count")
        lo, hi = _bound(r, "min", path, problems), _bound(r, "max", path, problems)
        # "count: 3" / "points: 10" state an exact figure.
        for exact in ("count", "points"):
            if r.get(exact) is not None:
                measure = exact
                lo = hi = _num(r, exact, path, problems, None, float)
        out.append(
            RuleSpec(
                name=str(r.get("name") or ""),
                area=None if r.get("area") in (None, "") else str(r["area"]),
                type=None if r.get("type") in (None, "") else str(r["type"]),
                attributes=attrs,
                measure=measure,
                min=lo,
                max=hi,
                tolerance=_num(r, "tolerance", path, problems, 0.0, float),
            )
        )
    return out


def _grid(raw: Any, problems: list[SpecProblem]) -> GridSpec | None:
    if not raw:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells") or {}, dict):
        problems.append(SpecProblem("grid", "应为 {attribute, cells: {知识点: {属性值: 题量}}} 键值表"))
        return None
    cells: dict[str, dict[str, float]] = {}
    for area, row in (raw.get("cells") or {}).items():
        if not isinstance(row, dict):
            problems.append(SpecProblem(f"grid.cells.{area}", "应为 {属性值: 题量} 键值表"))
            continue
        cells[str(area)] = {}
        for value, n in row.items():
            if n in (None, ""):
                continue
            got = _num({"v": n}, "v", f"grid.cells.{area}.{value}", problems, None, float)
            if got is not None:
                cells[str(area)][str(value)] = got
    return GridSpec(
        attribute=str(raw.get("attribute") or COGNITIVE_LEVEL),
        measure=str(raw.get("measure") or "count"),
        tolerance=_num(raw, "tolerance", "grid.", problems, 0.0, float),
        cells=cells,
    )


def _id_list(raw: Any, key: str, problems: list[SpecProblem]) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return raw.replace("，", ",").replace(",", " ").split()
    if not isinstance(raw, list):
        problems.append(SpecProblem(key, "应为题号列表"))
        return []
    return [str(x) for x in raw]


def _excludes(raw: Any, problems: list[SpecProblem]) -> list[ExcludeSpec]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append(SpecProblem("exclude", "应为排除规则列表"))
        return []
    out = []
    for i, r in enumerate(raw):
        if not isinstance(r, dict) or "field" not in r:
            problems.append(SpecProblem(f"exclude[{i}]", "应为 {field, op, value} 键值表"))
            continue
        out.append(
            ExcludeSpec(
                field=str(r["field"]),
                op=str(r.get("op") or ("in" if isinstance(r.get("value"), list) else "==")),
                value=r.get("value"),
                name=str(r.get("name") or ""),
            )
        )
    return out


def _objective(raw: Any, problems: list[SpecProblem]) -> ObjectiveSpec | None:
    if not raw:
        return None
    if isinstance(raw, str):
        raw = {"kind": raw}
    if not isinstance(raw, dict):
        problems.append(SpecProblem("objective", "应为键值表"))
        return None
    try:
        thetas = [float(t) for t in raw.get("thetas") or []]
        weights = [float(w) for w in raw.get("weights") or []]
    except (TypeError, ValueError):
        problems.append(SpecProblem("objective.thetas", "能力点与权重应为数字列表"))
        thetas, weights = [], []
    return ObjectiveSpec(
        kind=str(raw.get("kind") or "targets"),
        thetas=thetas,
        weights=weights,
        reference_form=str(raw.get("reference_form") or ""),
        tolerance=_num(raw, "tolerance", "objective.", problems, 0.1, float),
    )


def _validate_language(spec: BlueprintSpec) -> list[SpecProblem]:
    p: list[SpecProblem] = []
    for i, r in enumerate(spec.rules):
        path = f"rules[{i}]"
        if r.measure not in RULE_MEASURES:
            p.append(SpecProblem(f"{path}.measure", "应为 count（题量）或 points（分值）"))
        if r.min is None and r.max is None:
            p.append(SpecProblem(path, "至少需要 min 或 max"))
        if r.min is not None and r.max is not None and r.min > r.max:
            p.append(SpecProblem(path, f"下限 {r.min:g} 大于上限 {r.max:g}"))
        if (r.min is not None and r.min < 0) or (r.max is not None and r.max < 0) or r.tolerance < 0:
            p.append(SpecProblem(path, "上下限与容差不能为负数"))
        if r.type is not None and r.type not in SECTION_TYPES:
            p.append(SpecProblem(f"{path}.type", f"题型应为 {', '.join(SECTION_TYPES)} 之一，实际为 {r.type!r}"))
    if spec.grid is not None:
        if spec.grid.measure not in RULE_MEASURES:
            p.append(SpecProblem("grid.measure", "应为 count（题量）或 points（分值）"))
        if any(n < 0 for row in spec.grid.cells.values() for n in row.values()) or spec.grid.tolerance < 0:
            p.append(SpecProblem("grid", "细目表中的数字不能为负数"))
    for i, e in enumerate(spec.exclude):
        if e.op not in EXCLUDE_OPS:
            p.append(SpecProblem(f"exclude[{i}].op", f"应为 {' '.join(EXCLUDE_OPS)} 之一，实际为 {e.op!r}"))
        elif (
            e.field in STAT_FIELDS
            and e.field != "item"
            and e.op not in ("in", "not in")
            and (isinstance(e.value, bool) or not isinstance(e.value, int | float))
        ):
            p.append(SpecProblem(f"exclude[{i}].value", f"{STAT_FIELDS[e.field]}的比较值应为数字"))
    if spec.order_by not in ORDER_BY:
        p.append(SpecProblem("order_by", f"应为 {', '.join(ORDER_BY)} 之一，实际为 {spec.order_by!r}"))
    o = spec.objective
    if o is not None:
        if o.kind not in OBJECTIVES:
            p.append(SpecProblem("objective.kind", f"应为 {', '.join(OBJECTIVES)} 之一，实际为 {o.kind!r}"))
        elif o.kind != "targets" and not o.thetas:
            p.append(SpecProblem("objective.thetas", "至少需要一个能力点 θ"))
        if o.weights and len(o.weights) != len(o.thetas):
            p.append(SpecProblem("objective.weights", "权重个数应与能力点个数相同"))
        if any(w <= 0 for w in o.weights):
            p.append(SpecProblem("objective.weights", "权重必须大于 0"))
        if o.kind == "reference" and not o.reference_form:
            p.append(SpecProblem("objective.reference_form", "请填写参考卷的试卷编号"))
        if o.kind == "maximin" and spec.information is not None:
            p.append(SpecProblem("objective", "最大化信息量与目标信息量（information）不能同时使用"))
    return p


def _grading_dict(raw: Any, problems: list[SpecProblem]) -> dict[str, Any]:
    # Its keys are checked by exam_server.grading.rules when grading uses them; here only its shape.
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(SpecProblem("grading", "应为键值表"))
        return {}
    return dict(raw)


def _validate(spec: BlueprintSpec) -> list[SpecProblem]:
    p: list[SpecProblem] = []
    if not spec.name:
        p.append(SpecProblem("name", "蓝图名称不能为空"))
    elif len(spec.name) > 200:
        p.append(SpecProblem("name", "蓝图名称不能超过 200 字"))
    if spec.level not in LEVELS:
        p.append(SpecProblem("level", f"等级应为 1-5，实际为 {spec.level}"))
    if spec.part not in PARTS:
        p.append(SpecProblem("part", f"考核科目应为 {', '.join(PARTS)} 之一，实际为 {spec.part!r}"))
    if spec.duration_s <= 0:
        p.append(SpecProblem("duration_s", "考试时长必须大于 0"))
    if not 0 <= spec.pass_mark <= 100:
        p.append(SpecProblem("pass_mark", f"合格线应在 0-100 之间，实际为 {spec.pass_mark}"))
    if not spec.sections:
        p.append(SpecProblem("sections", "至少需要一个题型部分"))
    seen: set[str] = set()
    labels: set[str] = set()
    for i, s in enumerate(spec.sections):
        path = f"sections[{i}]"
        if s.type not in SECTION_TYPES:
            p.append(
                SpecProblem(f"{path}.type", f"题型应为 {', '.join(SECTION_TYPES)} 之一，实际为 {s.type!r}")
            )
        elif s.type in seen:
            p.append(
                SpecProblem(f"{path}.type", f"题型 {TYPE_LABELS[s.type]} 出现了两次；同一题型只能有一个部分")
            )
        seen.add(s.type)
        if s.label in labels:
            p.append(SpecProblem(f"{path}.title", f"标题「{s.label}」与前面的部分重复"))
        labels.add(s.label)
        if s.count <= 0:
            p.append(SpecProblem(f"{path}.count", f"题量必须大于 0，实际为 {s.count}"))
        if s.points <= 0:
            p.append(SpecProblem(f"{path}.points", f"每题分值必须大于 0，实际为 {s.points}"))
        allowed = item_type(s.type).scoring_rules if s.type in SECTION_TYPES else ("exact",)
        if s.scoring_rule not in SCORING_RULES:
            p.append(SpecProblem(f"{path}.scoring_rule", f"评分规则应为 {', '.join(SCORING_RULES)} 之一"))
        elif s.scoring_rule not in allowed:
            p.append(SpecProblem(f"{path}.scoring_rule", f"只有{RULE_CHOOSERS}可以设置全对/部分得分规则"))
    total_share = 0.0
    for code, share in spec.area_shares.items():
        if not code.strip():
            p.append(SpecProblem("area_shares", "知识点代码不能为空"))
        if not 0 <= share <= 1:
            p.append(SpecProblem(f"area_shares.{code}", f"比重应在 0-1 之间，实际为 {share}"))
        total_share += share
    if total_share > 1 + 1e-6:
        # The editor shows shares in percent, so the sum is said in percent too.
        p.append(SpecProblem("area_shares", f"各知识点比重合计 {total_share * 100:g}%，不能超过 100%"))
    if not 0 <= spec.area_tolerance <= 1:
        p.append(SpecProblem("area_tolerance", f"比重容差应在 0-1 之间，实际为 {spec.area_tolerance}"))
    d = spec.difficulty
    if d is not None:
        if not 0 <= d.p_min <= d.p_max <= 1:
            p.append(
                SpecProblem(
                    "difficulty.mean_p",
                    f"平均难度区间应满足 0 ≤ 下限 ≤ 上限 ≤ 1，实际为 [{d.p_min}, {d.p_max}]",
                )
            )
        if d.missing_p is not None and not 0 <= d.missing_p <= 1:
            p.append(SpecProblem("difficulty.missing_p", "缺少难度的题目的假定难度应在 0-1 之间"))
        if d.parallel_tolerance < 0:
            p.append(SpecProblem("difficulty.parallel_tolerance", "不能为负数"))
    info = spec.information
    if info is not None:
        if not info.thetas or len(info.thetas) != len(info.targets):
            p.append(
                SpecProblem(
                    "information.targets", "能力点 thetas 与目标信息量 targets 的个数应相同且至少一个"
                )
            )
        if any(t <= 0 for t in info.targets):
            p.append(SpecProblem("information.targets", "目标信息量必须大于 0"))
        if not 0 < info.tolerance <= 1:
            p.append(SpecProblem("information.tolerance", "信息量相对容差应在 (0, 1] 之间"))
        if info.parallel_tolerance < 0:
            p.append(SpecProblem("information.parallel_tolerance", "不能为负数"))
    if spec.max_item_sets is not None and spec.max_item_sets < 0:
        p.append(SpecProblem("max_item_sets", "不能为负数"))
    if not 0 <= spec.max_overlap <= 1:
        p.append(SpecProblem("max_overlap", f"平行卷最大重复比例应在 0-1 之间，实际为 {spec.max_overlap}"))
    if spec.max_forms_per_item is not None and spec.max_forms_per_item < 1:
        p.append(SpecProblem("max_forms_per_item", "至少为 1"))
    if spec.max_exposure is not None and spec.max_exposure < 1:
        p.append(SpecProblem("max_exposure", "曝光上限至少为 1"))
    if spec.exclude_recent_sessions < 0:
        p.append(SpecProblem("exclude_recent_sessions", "不能为负数"))
    for i, group in enumerate(spec.enemy_groups):
        if len(group) < 2:
            p.append(SpecProblem(f"enemy_groups[{i}]", "互斥组至少需要两道题"))
    p.extend(_validate_language(spec))
    return p


# --------------------------------------------------------------------------------------------------
# Files


def loads_spec(text: str, source: str = "") -> BlueprintSpec:
    """Parse YAML or JSON text (JSON is YAML) into a validated spec."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"第 {mark.line + 1} 行" if mark is not None else "文件"
        raise BlueprintError(
            [SpecProblem(where, f"YAML/JSON 格式错误: {getattr(exc, 'problem', exc)}")], source
        ) from None
    return BlueprintSpec.from_dict(data, source)


def load_spec(path: str | Path) -> BlueprintSpec:
    """Read a blueprint file (.yaml, .yml or .json)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BlueprintError(f"无法读取文件: {exc.strerror}", str(path)) from None
    return loads_spec(text, str(path))


def dumps_spec(spec: BlueprintSpec, fmt: str = "yaml") -> str:
    """The spec as YAML (default) or JSON text, loadable by `loads_spec`."""
    data = spec.to_dict()
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def dump_spec(spec: BlueprintSpec, path: str | Path) -> None:
    path = Path(path)
    fmt = "json" if path.suffix.lower() == ".json" else "yaml"
    path.write_text(dumps_spec(spec, fmt), encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# Storage


def spec_of(blueprint: Blueprint) -> BlueprintSpec:
    """The validated spec of a stored blueprint (columns win over the JSON header fields)."""
    data = dict(blueprint.spec or {})
    data.update(
        name=blueprint.name,
        level=blueprint.level,
        part=blueprint.part,
        duration_s=blueprint.duration_s,
        pass_mark=blueprint.pass_mark,
    )
    data.pop("duration_min", None)
    return BlueprintSpec.from_dict(data, f"蓝图 {blueprint.name}")


def get_blueprint(session: Session, name_or_id: str | int) -> Blueprint | None:
    """A stored blueprint by id or name."""
    if isinstance(name_or_id, int) or (isinstance(name_or_id, str) and name_or_id.isdigit()):
        bp = session.get(Blueprint, int(name_or_id))
        if bp is not None:
            return bp
    return session.scalar(select(Blueprint).where(Blueprint.name == str(name_or_id)))


def create_blueprint(
    session: Session, spec: BlueprintSpec | dict[str, Any], actor: str = DEFAULT_ACTOR
) -> Blueprint:
    """Store a new blueprint from a spec (validated); flushes, the caller commits."""
    if not isinstance(spec, BlueprintSpec):
        spec = BlueprintSpec.from_dict(spec)
    else:
        problems = spec.validate()
        if problems:
            raise BlueprintError(problems)
    if session.scalar(select(Blueprint.id).where(Blueprint.name == spec.name)) is not None:
        raise BlueprintError([SpecProblem("name", f"蓝图「{spec.name}」已存在")])
    bp = Blueprint(
        name=spec.name,
        level=spec.level,
        part=spec.part,
        duration_s=spec.duration_s,
        pass_mark=spec.pass_mark,
        spec=spec.to_dict(),
    )
    session.add(bp)
    session.flush()
    audit(session, actor, "blueprint.create", "blueprint", bp.id, after=spec.to_dict())
    return bp


def update_blueprint(
    session: Session, blueprint: Blueprint, spec: BlueprintSpec, actor: str = DEFAULT_ACTOR
) -> Blueprint:
    """Replace a blueprint's spec (forms already assembled keep their own copy in their report)."""
    problems = spec.validate()
    if problems:
        raise BlueprintError(problems)
    other = session.scalar(
        select(Blueprint.id).where(Blueprint.name == spec.name, Blueprint.id != blueprint.id)
    )
    if other is not None:
        raise BlueprintError([SpecProblem("name", f"蓝图「{spec.name}」已存在")])
    before = dict(blueprint.spec or {})
    blueprint.name = spec.name
    blueprint.level = spec.level
    blueprint.part = spec.part
    blueprint.duration_s = spec.duration_s
    blueprint.pass_mark = spec.pass_mark
    blueprint.spec = spec.to_dict()
    blueprint.updated_at = utcnow()
    session.flush()
    audit(session, actor, "blueprint.update", "blueprint", blueprint.id, before=before, after=spec.to_dict())
    return blueprint


def weight_table_shares(session: Session, level: int, part: str) -> dict[str, float]:
    """The weight table's (比重表) shares for a level and part, keyed by area code (a blueprint default)."""
    rows = session.execute(
        select(KnowledgeArea.code, AreaWeight.share)
        .join(KnowledgeArea, KnowledgeArea.id == AreaWeight.area_id)
        .where(AreaWeight.level == level, AreaWeight.part == part)
    ).all()
    return {code: float(share) for code, share in rows}
