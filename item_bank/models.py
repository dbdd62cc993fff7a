"""Tables of the item bank: knowledge areas, items and their immutable versions, blueprints and forms."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from item_bank.db import Base, utcnow

# Item version lifecycle (DESIGN.md §4); the allowed transitions live in item_bank.review.
DRAFT, IN_REVIEW, APPROVED, RETIRED = "draft", "in_review", "approved", "retired"
# Form lifecycle.
ASSEMBLED, FORM_APPROVED, LOCKED, FORM_RETIRED = "assembled", "approved", "locked", "retired"


class KnowledgeArea(Base):
    """A node of the knowledge tree from the national standard (知识点 / 鉴定要素)."""

    __tablename__ = "knowledge_area"
    __table_args__ = (UniqueConstraint("level", "part", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    # None = shared by every level (the bank's level-free labels).
    level: Mapped[int | None] = mapped_column(Integer, nullable=True)
    part: Mapped[str] = mapped_column(String(20), default="theory")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("knowledge_area.id"), nullable=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # 基本要求 / 工作要求 / 职业功能 / 工作内容 / 技能要求 / label
    kind: Mapped[str] = mapped_column(String(20), default="label")
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("knowledge_area.id"), nullable=True)

    parent: Mapped[KnowledgeArea | None] = relationship(
        remote_side="KnowledgeArea.id", foreign_keys=[parent_id], back_populates="children"
    )
    children: Mapped[list[KnowledgeArea]] = relationship(
        foreign_keys=[parent_id], back_populates="parent", order_by="KnowledgeArea.position"
    )


class AreaWeight(Base):
    """One row of the weight table (比重表): an area's share of a level and part's points."""

    __tablename__ = "area_weight"
    __table_args__ = (UniqueConstraint("level", "part", "area_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    level: Mapped[int] = mapped_column(Integer)
    part: Mapped[str] = mapped_column(String(20))
    area_id: Mapped[int] = mapped_column(ForeignKey("knowledge_area.id"))
    share: Mapped[float] = mapped_column(Float)


class ItemSet(Base):
    """A shared stimulus (情景 / 案例) whose child items always travel together."""

    __tablename__ = "item_set"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(60), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    stimulus: Mapped[str] = mapped_column(Text, default="")
    media: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Item(Base):
    """A question; its content lives in immutable versions."""

    __tablename__ = "item"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(60), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # The version shown by default: the newest approved one, else the newest. A plain column, not
    # a foreign key: item and item_version would otherwise reference each other, which migrations
    # cannot create in one step on SQLite.
    current_version_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    # The newest version whatever its status (what authors work on); kept by item_bank.versions so
    # searches over a large bank need no per-query "latest version" aggregate. None = same as current.
    head_version_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)

    versions: Mapped[list[ItemVersion]] = relationship(
        back_populates="item", foreign_keys="ItemVersion.item_id", order_by="ItemVersion.version_no"
    )
    current_version: Mapped[ItemVersion | None] = relationship(
        primaryjoin="foreign(Item.current_version_id) == ItemVersion.id", post_update=True
    )


class ItemVersion(Base):
    """One immutable version of an item; every edit makes a new row."""

    __tablename__ = "item_version"
    __table_args__ = (
        UniqueConstraint("item_id", "version_no"),
        Index("ix_item_version_status_type", "status", "type"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("item.id"), index=True)
    version_no: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20), default=DRAFT, index=True)
    type: Mapped[str] = mapped_column(String(20))
    stem: Mapped[str] = mapped_column(Text)
    # Type-specific content: options, blanks, rubric, model answer ... (see item_bank.types).
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The key in the type's own form: "B", "ACD", [["答案", "同义词"]], None for human-graded types.
    key: Mapped[Any] = mapped_column(JSON, nullable=True)
    points: Mapped[float] = mapped_column(Float, default=1.0)
    levels: Mapped[list[Any]] = mapped_column(default=list)
    part: Mapped[str] = mapped_column(String(20), default="theory")
    knowledge_area_id: Mapped[int | None] = mapped_column(
        ForeignKey("knowledge_area.id"), nullable=True, index=True
    )
    item_set_id: Mapped[int | None] = mapped_column(ForeignKey("item_set.id"), nullable=True, index=True)
    set_position: Mapped[int] = mapped_column(Integer, default=0)
    enemy_group: Mapped[str | None] = mapped_column(String(60), nullable=True, index=True)
    # Classical difficulty (share correct) and IRT parameters, with where they were estimated.
    difficulty: Mapped[float | None] = mapped_column(Float, nullable=True)
    irt_a: Mapped[float | None] = mapped_column(Float, nullable=True)
    irt_b: Mapped[float | None] = mapped_column(Float, nullable=True)
    irt_c: Mapped[float | None] = mapped_column(Float, nullable=True)
    stats_n: Mapped[int | None] = mapped_column(Integer, nullable=True)
    stats_session_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    media: Mapped[list[Any]] = mapped_column(default=list)
    source: Mapped[str] = mapped_column(String(200), default="")
    # 认知层次 (识记/理解/应用 ..., see item_bank.attributes.COGNITIVE_LEVELS): the second axis of a
    # 双向细目表, first-class because every blueprint crosses it with the knowledge tree.
    cognitive_level: Mapped[str | None] = mapped_column(String(20), nullable=True, index=True)
    # The bank's own named attributes (name -> str | number), defined by AttributeDefinition.
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Normalised stem for search and duplicate detection.
    stem_norm: Mapped[str] = mapped_column(Text, default="", index=False)
    author_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reviewer_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    exposure_count: Mapped[int] = mapped_column(Integer, default=0)

    item: Mapped[Item] = relationship(back_populates="versions", foreign_keys=[item_id])
    knowledge_area: Mapped[KnowledgeArea | None] = relationship()
    item_set: Mapped[ItemSet | None] = relationship()

    @property
    def options(self) -> list[str]:
        return list(self.content.get("options", []))


class AttributeDefinition(Base):
    """A named item attribute the bank defines (题型形式, 知识深度, 来源, 情景 ...): enumerated values or a number."""

    __tablename__ = "attribute_definition"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    # "enum" (one of `values`) or "number" (`values` may hold {"min": .., "max": ..}).
    kind: Mapped[str] = mapped_column(String(10), default="enum")
    values: Mapped[Any] = mapped_column(JSON, default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ReviewComment(Base):
    """A reviewer's (or author's) comment on an item version."""

    __tablename__ = "review_comment"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_version_id: Mapped[int] = mapped_column(ForeignKey("item_version.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Blueprint(Base):
    """What a paper must contain (组卷蓝图 / 双向细目表); the details live in `spec` (see item_bank.blueprints)."""

    __tablename__ = "blueprint"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    level: Mapped[int] = mapped_column(Integer)
    part: Mapped[str] = mapped_column(String(20))
    duration_s: Mapped[int] = mapped_column(Integer)
    pass_mark: Mapped[float] = mapped_column(Float, default=60.0)
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Form(Base):
    """An assembled paper (试卷); locking freezes its item versions, order rules and key."""

    __tablename__ = "form"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    blueprint_id: Mapped[int] = mapped_column(ForeignKey("blueprint.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=ASSEMBLED)
    # Forms assembled together in one run share a group (parallel forms).
    assembly_group: Mapped[str] = mapped_column(String(60), default="")
    assembly_report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    locked_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)

    blueprint: Mapped[Blueprint] = relationship()
    items: Mapped[list[FormItem]] = relationship(
        back_populates="form", order_by="FormItem.position", cascade="all, delete-orphan"
    )


class FormItem(Base):
    """One frozen item version at one position of a form."""

    __tablename__ = "form_item"
    __table_args__ = (UniqueConstraint("form_id", "position"), UniqueConstraint("form_id", "item_version_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("form.id"), index=True)
    item_version_id: Mapped[int] = mapped_column(ForeignKey("item_version.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    section: Mapped[str] = mapped_column(String(40))
    points: Mapped[float] = mapped_column(Float)
    # "all_or_nothing" | "partial" for multiple response; the rest score exactly.
    scoring_rule: Mapped[str] = mapped_column(String(20), default="exact")

    form: Mapped[Form] = relationship(back_populates="items")
    item_version: Mapped[ItemVersion] = relationship()


class MediaFile(Base):
    """An image used by items or item sets, stored once by content hash (kept in the database so
    every worker of a centre and every offline test-site copy has it)."""

    __tablename__ = "media_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    mime: Mapped[str] = mapped_column(String(60))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
