"""The candidate pool of an assembly: the bank's item versions a blueprint may use, as plain records.

Loading turns rows into `ItemRecord`s once (area resolved to the blueprint's area keys, IRT information
precomputed), and groups them into `Unit`s: one item, or one whole item set (题组), the thing a MIP
variable picks. Records that cannot be used keep the reason, so a shortage can be explained.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import desc, func, select
from sqlalchemy.orm import Session

from item_bank.attributes import attribute_value
from item_bank.blueprints import BlueprintSpec
from item_bank.db import Base
from item_bank.models import APPROVED, RETIRED, Form, FormItem, Item, ItemVersion, KnowledgeArea
from item_bank.text import normalise_stem

# Logistic scaling constant of the IRT model (1.0: the plain logistic, as mirt and ltm report it).
IRT_D = 1.0
OTHER_AREA = "(其他)"

# Reasons a record is not usable; "restricted" reasons can be relaxed by the elastic model to measure them.
R_EXPOSURE = "exposure"
R_RECENT = "recent"
# Excluded by one of the blueprint's exclusion rules (which one: ItemRecord.excluded_by).
R_EXCLUDED = "excluded"
RESTRICTED_REASONS = (R_EXPOSURE, R_RECENT, R_EXCLUDED)
REASON_LABELS = {
    "level": "不适用于本等级",
    "no_p": "缺少难度估计",
    "no_irt": "缺少 IRT 参数",
    "set_broken": "所在题组不完整或含多种题型",
    "sets_disallowed": "蓝图不允许题组",
    R_EXPOSURE: "曝光次数已达上限",
    R_RECENT: "近期场次已使用",
    R_EXCLUDED: "被蓝图的排除规则排除",
}


@dataclass
class ItemRecord:
    """One approved item version as assembly sees it."""

    version_id: int
    item_id: int
    external_id: str
    type: str
    area: str  # the blueprint's area key this item counts toward, or OTHER_AREA
    area_name: str
    p: float | None
    irt: tuple[float, float, float] | None
    enemy_keys: set[str]
    set_id: int | None
    set_position: int
    exposure: int
    reason: str | None = None  # why it may not be used, None if usable
    info: np.ndarray | None = None
    # Codes and names of the item's knowledge area and every ancestor (a rule on any of them counts it).
    areas: frozenset[str] = frozenset()
    # Attribute values the blueprint's rules read (cognitive_level and the bank's attributes).
    attrs: dict[str, str | float] = field(default_factory=dict)
    excluded_by: int | None = None  # index of the exclusion rule that keeps it out
    included: bool = False  # the blueprint names it: every form takes it

    def stat(self, name: str) -> str | float | None:
        """A statistic or attribute by the name exclusion rules use."""
        if name == "p":
            return self.p
        if name in ("discrimination", "irt_b", "irt_c"):
            if self.irt is None:
                return None
            return self.irt[("discrimination", "irt_b", "irt_c").index(name)]
        if name == "exposure":
            return float(self.exposure)
        if name == "item":
            return self.external_id
        return self.attrs.get(name)

    @property
    def restricted(self) -> bool:
        return self.reason in RESTRICTED_REASONS


@dataclass
class Unit:
    """What one decision variable picks: a single item, or an item set with every child in set order."""

    key: str
    records: list[ItemRecord]
    is_set: bool
    reason: str | None = None

    @property
    def type(self) -> str:
        return self.records[0].type

    @property
    def size(self) -> int:
        return len(self.records)


@dataclass
class Pool:
    """All candidate records and usable units for one blueprint."""

    spec: BlueprintSpec
    records: list[ItemRecord]
    units: list[Unit]  # usable and restricted units (reason None or restricted)
    area_names: dict[str, str]  # blueprint area key -> display name
    unknown_areas: list[str] = field(default_factory=list)
    enemy_groups: list[list[int]] = field(default_factory=list)  # unit indices

    def usable(self) -> list[Unit]:
        return [u for u in self.units if u.reason is None]


def item_information(irt: tuple[float, float, float], thetas: np.ndarray) -> np.ndarray:
    """Fisher information of a 3PL item at each theta."""
    a, b, c = irt
    p_star = 1.0 / (1.0 + np.exp(-IRT_D * a * (thetas - b)))
    p = c + (1.0 - c) * p_star
    return (IRT_D * a) ** 2 * ((p - c) / (1.0 - c)) ** 2 * (1.0 - p) / p


def resolve_areas(session: Session, spec: BlueprintSpec) -> tuple[dict[int, str], dict[str, str], list[str]]:
    """Map knowledge-area ids to the blueprint's area keys (an area counts for its whole subtree).

    Returns (area id -> key, key -> display name, keys not found in the knowledge tree).
    """
    areas = session.scalars(select(KnowledgeArea).where(KnowledgeArea.part == spec.part)).all()
    wanted = dict.fromkeys(spec.area_shares)
    by_key: dict[str, KnowledgeArea] = {}
    for key in wanted:
        matches = [a for a in areas if a.code == key or a.name == key]
        # Prefer the node of this level over a shared (level-free) one.
        matches.sort(key=lambda a: (a.level != spec.level, a.level is not None, a.id))
        matches = [a for a in matches if a.level in (None, spec.level)]
        if matches:
            by_key[key] = matches[0]
    target = {a.id: key for key, a in by_key.items()}
    parent = {a.id: a.merged_into_id or a.parent_id for a in areas}
    mapping: dict[int, str] = {}
    for a in areas:
        node: int | None = a.id
        seen = set()
        while node is not None and node not in seen:
            if node in target:
                mapping[a.id] = target[node]
                break
            seen.add(node)
            node = parent.get(node)
    names = {key: (a.name if a.name == key else f"{a.name}") for key, a in by_key.items()}
    unknown = [k for k in wanted if k not in by_key]
    return mapping, names, unknown


def area_ancestors(session: Session, spec: BlueprintSpec) -> tuple[dict[int, frozenset[str]], set[str]]:
    """Per knowledge area id, the codes and names of the area and all its ancestors; and every known key."""
    areas = session.scalars(select(KnowledgeArea).where(KnowledgeArea.part == spec.part)).all()
    by_id = {a.id: a for a in areas}
    out: dict[int, frozenset[str]] = {}
    for a in areas:
        keys: set[str] = set()
        node: KnowledgeArea | None = a
        seen: set[int] = set()
        while node is not None and node.id not in seen:
            seen.add(node.id)
            keys |= {node.code, node.name}
            nxt = node.merged_into_id or node.parent_id
            node = by_id.get(nxt) if nxt is not None else None
        out[a.id] = frozenset(k for k in keys if k)
    known = {k for a in areas if a.level in (None, spec.level) for k in (a.code, a.name) if k}
    return out, known


def apply_exclusions(records: list[ItemRecord], spec: BlueprintSpec) -> None:
    """Mark records an exclusion rule keeps out (items the blueprint includes by name are exempt)."""
    for rec in records:
        if rec.reason is not None or rec.included:
            continue
        for k, rule in enumerate(spec.exclude):
            if rule.hits(rec.stat(rule.field)):
                rec.reason, rec.excluded_by = R_EXCLUDED, k
                break


def recent_item_ids(session: Session, spec: BlueprintSpec) -> set[int]:
    """Items in forms of the last K exam sessions of the blueprint's level and part.

    Sessions live in exam_server's tables; they are read through the shared metadata so the item bank
    needs no import of the web layer (and simply finds nothing when those tables are not loaded).
    """
    k = spec.exclude_recent_sessions
    tables = Base.metadata.tables
    if k <= 0 or "exam_session" not in tables or "session_form" not in tables:
        return set()
    es, sf = tables["exam_session"], tables["session_form"]
    recent = (
        select(es.c.id)
        .where(es.c.level == spec.level, es.c.part == spec.part)
        .order_by(desc(es.c.starts_at))
        .limit(k)
        .subquery()
    )
    rows = session.execute(
        select(ItemVersion.item_id)
        .join(FormItem, FormItem.item_version_id == ItemVersion.id)
        .join(Form, Form.id == FormItem.form_id)
        .join(sf, sf.c.form_id == Form.id)
        .where(sf.c.session_id.in_(select(recent.c.id)))
    ).all()
    return {r[0] for r in rows}


def load_pool(session: Session, spec: BlueprintSpec) -> Pool:
    """Every approved item version of the blueprint's part and types, as records grouped into units."""
    types = [s.type for s in spec.sections]
    rows = session.execute(
        select(ItemVersion, Item.external_id)
        .join(Item, Item.id == ItemVersion.item_id)
        .where(ItemVersion.status == APPROVED, ItemVersion.part == spec.part, ItemVersion.type.in_(types))
        .order_by(ItemVersion.item_id, desc(ItemVersion.version_no))
    ).all()
    newest = []
    seen_items: set[int] = set()
    for version, external_id in rows:
        if version.item_id not in seen_items:  # only the newest approved version of an item is a candidate
            seen_items.add(version.item_id)
            newest.append((version, external_id))
    records, area_names, unknown = _records(session, spec, newest, recent_item_ids(session, spec))
    _, known = area_ancestors(session, spec)
    unknown += [r.area for r in spec.all_rules() if r.area and r.area not in known and r.area not in unknown]
    set_ids = {r.set_id for r in records if r.set_id is not None}
    set_sizes: dict[int, int] = {}
    if set_ids:
        # A set travels whole: every live child item must be approved (a draft child keeps the set out).
        set_sizes = dict(
            session.execute(
                select(ItemVersion.item_set_id, func.count(func.distinct(ItemVersion.item_id)))
                .where(ItemVersion.item_set_id.in_(set_ids), ItemVersion.status != RETIRED)
                .group_by(ItemVersion.item_set_id)
            ).all()
        )
    return Pool(spec, records, _units(records, spec, set_sizes), area_names, unknown, [])


def records_for_versions(session: Session, spec: BlueprintSpec, version_ids: list[int]) -> list[ItemRecord]:
    """Records for given versions in the given order (a stored form's items), judged against `spec`.

    Only fit to the blueprint is judged (level, p, IRT parameters); exposure and recent use describe
    the bank at assembly time, not the form.
    """
    rows = session.execute(
        select(ItemVersion, Item.external_id)
        .join(Item, Item.id == ItemVersion.item_id)
        .where(ItemVersion.id.in_(version_ids))
    ).all()
    by_id = {v.id: (v, ext) for v, ext in rows}
    ordered = [by_id[i] for i in version_ids if i in by_id]
    records, _names, _unknown = _records(session, spec, ordered, set(), judge_use=False)
    return records


def _records(
    session: Session,
    spec: BlueprintSpec,
    rows: list[tuple[ItemVersion, str]],
    recent: set[int],
    judge_use: bool = True,
) -> tuple[list[ItemRecord], dict[str, str], list[str]]:
    area_map, area_names, unknown = resolve_areas(session, spec)
    ancestors, _known = area_ancestors(session, spec)
    area_label = dict(session.execute(select(KnowledgeArea.id, KnowledgeArea.name)).all())
    thetas = np.array(spec.info_thetas(), dtype=float)
    attr_names = spec.rule_attributes()
    included = set(spec.include)
    records: list[ItemRecord] = []
    stems: dict[str, list[int]] = defaultdict(list)
    for version, external_id in rows:
        levels = {int(x) for x in (version.levels or []) if str(x).strip().isdigit()}
        irt = None
        if version.irt_a is not None and version.irt_b is not None:
            irt = (float(version.irt_a), float(version.irt_b), float(version.irt_c or 0.0))
        p = version.difficulty
        if p is None and spec.difficulty is not None and spec.difficulty.missing_p is not None:
            p = spec.difficulty.missing_p
        area_id = version.knowledge_area_id
        rec = ItemRecord(
            version_id=version.id,
            item_id=version.item_id,
            external_id=external_id,
            type=version.type,
            area=area_map.get(area_id, OTHER_AREA) if area_id is not None else OTHER_AREA,
            area_name=area_label.get(area_id, "") if area_id is not None else "",
            p=p,
            irt=irt,
            enemy_keys=set(),
            set_id=version.item_set_id,
            set_position=version.set_position or 0,
            exposure=version.exposure_count or 0,
            areas=ancestors.get(area_id, frozenset()) if area_id is not None else frozenset(),
            attrs={n: v for n in attr_names if (v := attribute_value(version, n)) is not None},
            included=external_id in included,
        )
        if version.enemy_group:
            rec.enemy_keys.add(f"g:{version.enemy_group}")
        if spec.same_stem_enemies:
            norm = version.stem_norm or normalise_stem(version.stem)
            if norm:
                stems[norm].append(len(records))
        if spec.level not in levels:
            rec.reason = "level"
        elif spec.difficulty is not None and rec.p is None:
            rec.reason = "no_p"
        elif (spec.information is not None or spec.maximin) and irt is None:
            rec.reason = "no_irt"
        elif judge_use and version.item_id in recent:
            rec.reason = R_RECENT
        elif judge_use and spec.max_exposure is not None and rec.exposure >= spec.max_exposure:
            rec.reason = R_EXPOSURE
        if irt is not None and len(thetas):
            rec.info = item_information(irt, thetas)
        records.append(rec)
    if judge_use:
        apply_exclusions(records, spec)
    for n, (norm, idx) in enumerate(sorted(stems.items())):
        if len(idx) > 1:
            for i in idx:
                records[i].enemy_keys.add(f"s:{n}:{norm[:12]}")
    by_external = {r.external_id: r for r in records}
    for gi, group in enumerate(spec.enemy_groups):
        for ext in group:
            if ext in by_external:
                by_external[ext].enemy_keys.add(f"b:{gi}")
    return records, area_names, unknown


def _units(
    records: list[ItemRecord], spec: BlueprintSpec, set_sizes: dict[int, int] | None = None
) -> list[Unit]:
    units: list[Unit] = []
    sets: dict[int, list[ItemRecord]] = defaultdict(list)
    for rec in records:
        if rec.set_id is None:
            if rec.reason is None or rec.restricted:
                units.append(Unit(f"i{rec.version_id}", [rec], False, rec.reason))
        else:
            sets[rec.set_id].append(rec)
    for set_id, children in sets.items():
        children.sort(key=lambda r: (r.set_position, r.version_id))
        hard = [r.reason for r in children if r.reason is not None and not r.restricted]
        restricted = [r.reason for r in children if r.restricted]
        reason: str | None = None
        incomplete = set_sizes is not None and set_sizes.get(set_id, len(children)) > len(children)
        if hard or incomplete or len({r.type for r in children}) > 1:
            reason = "set_broken"
        elif not spec.item_sets_allowed:
            reason = "sets_disallowed"
        elif restricted:
            reason = restricted[0]
        if reason in ("set_broken", "sets_disallowed"):
            for r in children:
                if r.reason is None:
                    r.reason = reason
            continue
        units.append(Unit(f"s{set_id}", children, True, reason))
    return units
