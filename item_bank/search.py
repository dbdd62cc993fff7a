"""Finding items: filters by level, area (with its subtree and merged areas), type, status, author and
text, over each item's newest version, one page at a time.

Text is split into words, and an item matches when every word is in its normalised stem (width, case,
spaces and punctuation ignored), its source or its 认知层次, or is its item id: "保安员 巡逻" finds the
stems holding both words, "火灾 报警" finds "火灾，报警". The 认知层次 and any bank attribute may also be
filtered on. Written as plain indexed SQL so a 50,000-item bank answers quickly.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.orm import Session, aliased

from item_bank.models import APPROVED, IN_REVIEW, Item, ItemVersion
from item_bank.text import normalise_stem
from item_bank.tree import area_names, descendants

UNCLASSIFIED = -1
# Counting stops here: past a few thousand matches people refine the search rather than page, and
# an exact count would read the whole bank on every keystroke-sized query.
COUNT_LIMIT = 2000
SORTS = ("id", "newest", "oldest", "stem")


@dataclass
class ItemQuery:
    """What a search asks for; every filter optional. `area_id=UNCLASSIFIED` finds items without an area."""

    text: str = ""
    level: int | None = None
    area_id: int | None = None
    type: str | None = None
    status: str | None = None
    author_id: int | None = None
    part: str | None = None
    cognitive_level: str | None = None
    # A bank attribute and the value it must have ("format", "图片").
    attribute: str | None = None
    attribute_value: str | None = None
    sort: str = "id"
    page: int = 1
    per_page: int = 50

    @classmethod
    def from_args(cls, args: Any) -> ItemQuery:
        """Build from request arguments (a mapping of strings); bad values are ignored, not fatal."""

        def num(name: str) -> int | None:
            value = (args.get(name) or "").strip()
            try:
                return int(value) if value else None
            except ValueError:
                return None

        return cls(
            text=(args.get("q") or "").strip()[:200],
            level=num("level"),
            area_id=num("area"),
            type=(args.get("type") or None),
            status=(args.get("status") or None),
            author_id=num("author"),
            part=(args.get("part") or None),
            cognitive_level=(args.get("cognitive") or None),
            attribute=(args.get("attr") or "").strip()[:40] or None,
            attribute_value=(args.get("attr_value") or "").strip()[:100] or None,
            sort=args.get("sort") if args.get("sort") in SORTS else "id",
            page=max(1, num("page") or 1),
            per_page=min(200, max(10, num("per_page") or 50)),
        )

    def as_args(self, **override: Any) -> dict[str, Any]:
        """The query as URL arguments (for paging links), with `override` applied."""
        args = {
            "q": self.text,
            "level": self.level,
            "area": self.area_id,
            "type": self.type,
            "status": self.status,
            "author": self.author_id,
            "part": self.part,
            "cognitive": self.cognitive_level,
            "attr": self.attribute,
            "attr_value": self.attribute_value,
            "sort": None if self.sort == "id" else self.sort,
            "page": self.page if self.page > 1 else None,
        }
        args.update(override)
        return {k: v for k, v in args.items() if v not in (None, "")}


@dataclass
class ItemRow:
    """One line of a result: the item and its newest version, with the approved version's number if any."""

    item_id: int
    external_id: str
    version_id: int
    version_no: int
    status: str
    type: str
    stem: str
    levels: list[int]
    area_id: int | None
    author_id: int | None
    created_at: Any
    current_version_id: int | None
    approved_elsewhere: bool = False


@dataclass
class SearchResult:
    rows: list[ItemRow]
    total: int
    query: ItemQuery
    elapsed_ms: float
    area_names: dict[int, str] = field(default_factory=dict)
    # True when `total` is a lower bound (more than COUNT_LIMIT matched).
    more: bool = False

    @property
    def pages(self) -> int:
        pages = max(1, -(-self.total // self.query.per_page))
        # Past the counted matches, offer the next page as long as this one was full.
        if self.more and self.query.page >= pages and len(self.rows) == self.query.per_page:
            return self.query.page + 1
        return pages

    @property
    def total_label(self) -> str:
        return f"{self.total:,}+" if self.more else f"{self.total:,}"


def head_id() -> Any:
    """The id of an item's newest version (items made outside item_bank.versions fall back to current)."""
    return func.coalesce(Item.head_version_id, Item.current_version_id)


def _conditions(session: Session, q: ItemQuery, v: Any) -> list[Any]:
    conds: list[Any] = []
    if q.level is not None:
        # Levels are single digits stored as a JSON list ("[4, 5]"): a text match is exact and portable.
        conds.append(cast(v.levels, String).like(f"%{int(q.level)}%"))
    if q.area_id == UNCLASSIFIED:
        conds.append(v.knowledge_area_id.is_(None))
    elif q.area_id is not None:
        conds.append(v.knowledge_area_id.in_(sorted(descendants(session, q.area_id))))
    if q.type:
        conds.append(v.type == q.type)
    if q.status:
        conds.append(v.status == q.status)
    if q.author_id is not None:
        conds.append(v.author_id == q.author_id)
    if q.part:
        conds.append(v.part == q.part)
    if q.cognitive_level:
        conds.append(v.cognitive_level == q.cognitive_level)
    if q.attribute and q.attribute_value:
        conds.append(v.attributes[q.attribute].as_string() == q.attribute_value)
    for word in search_words(q.text):
        text_conds = [Item.external_id == word, v.cognitive_level == word]
        norm = normalise_stem(word)
        if norm:
            escaped = norm.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            text_conds.append(v.stem_norm.like(f"%{escaped}%", escape="\\"))
        escaped_raw = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        text_conds.append(v.source.like(f"%{escaped_raw}%", escape="\\"))
        conds.append(or_(*text_conds))
    return conds


def search_words(text: str) -> list[str]:
    """The words of a search (split at spaces, full-width ones too), each of which an item must match."""
    return [w for w in re.split(r"[\s\u3000]+", text.strip()) if w][:10]


def search_items(session: Session, q: ItemQuery) -> SearchResult:
    """One page of items matching `q` (newest version of each) and how many match in all."""
    started = time.perf_counter()
    v = aliased(ItemVersion, name="v")
    base = select(Item.id).select_from(Item).join(v, v.id == head_id()).where(*_conditions(session, q, v))
    # "newest" walks the head_version_id index backwards and stops after one page.
    order = {
        "id": (Item.id,),
        "newest": (Item.head_version_id.desc(), Item.id.desc()),
        "oldest": (v.id,),
        "stem": (v.stem_norm,),
    }[q.sort]
    current = aliased(ItemVersion, name="cur")
    rows = session.execute(
        select(
            Item.id,
            Item.external_id,
            Item.current_version_id,
            v.id,
            v.version_no,
            v.status,
            v.type,
            v.stem,
            v.levels,
            v.knowledge_area_id,
            v.author_id,
            v.created_at,
            current.status,
        )
        .select_from(Item)
        .join(v, v.id == head_id())
        .outerjoin(current, current.id == Item.current_version_id)
        .where(*_conditions(session, q, v))
        .order_by(*order)
        .limit(q.per_page)
        .offset((q.page - 1) * q.per_page)
    ).all()
    out = [
        ItemRow(
            item_id=r[0],
            external_id=r[1],
            current_version_id=r[2],
            version_id=r[3],
            version_no=r[4],
            status=r[5],
            type=r[6],
            stem=r[7],
            levels=list(r[8] or []),
            area_id=r[9],
            author_id=r[10],
            created_at=r[11],
            approved_elsewhere=r[2] != r[3] and r[12] == APPROVED,
        )
        for r in rows
    ]
    more = False
    if q.page == 1 and len(out) < q.per_page:
        total = len(out)  # the whole result fits on the first page: no second scan to count it
    else:
        limit = max(COUNT_LIMIT, q.page * q.per_page)
        total = session.scalar(select(func.count()).select_from(base.limit(limit + 1).subquery())) or 0
        if total > limit:
            total, more = limit, True
    names = area_names(session, {r.area_id for r in out})
    return SearchResult(out, int(total), q, (time.perf_counter() - started) * 1000, names, more)


def review_queue(session: Session, q: ItemQuery | None = None) -> SearchResult:
    """Versions waiting for review (oldest first), with the same filters as the search."""
    q = q or ItemQuery()
    q.status = IN_REVIEW
    if q.sort == "id":
        q.sort = "oldest"
    return search_items(session, q)


def status_counts(session: Session) -> dict[str, int]:
    """How many items have their newest version in each status."""
    return dict(
        session.execute(
            select(ItemVersion.status, func.count())
            .select_from(Item)
            .join(ItemVersion, ItemVersion.id == head_id())
            .group_by(ItemVersion.status)
        ).all()
    )
