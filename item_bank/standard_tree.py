"""The knowledge tree and weight table shipped for level 5 theory, created when a bank has none.

The bank manager creates it from the tree page, and an import or the Excel template creates it first
when the bank has no tree yet (`ensure_standard_tree`); the screens never create it on their own.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from item_bank.audit import audit
from item_bank.models import AreaWeight, KnowledgeArea
from item_bank.tree import THEORY

# The shipped tree as (code, name, kind) in display order; a code's parent is the code without its last part
# ("1.2.4" sits under "1.2"). The leaves are the 15 content labels of the public bank (item_bank/data);
# 综合 is the bank's "not yet classified" label.
LEVEL5_THEORY_TREE: tuple[tuple[str, str, str], ...] = (
    ("1", "基本要求", "基本要求"),
    ("1.1", "职业道德", "职业道德"),
    ("1.1.1", "职业道德与礼仪", "知识点"),
    ("1.2", "基础知识", "基础知识"),
    ("1.2.1", "法律基础知识", "知识点"),
    ("1.2.2", "保安服务法律法规", "知识点"),
    ("1.2.3", "保安服务业基础", "知识点"),
    ("1.2.4", "消防安全", "知识点"),
    ("1.2.5", "道路交通安全", "知识点"),
    ("1.2.6", "现场急救", "知识点"),
    ("2", "工作要求", "工作要求"),
    ("2.1", "守护与出入管理", "职业功能"),
    ("2.1.1", "门卫与出入口管理", "工作内容"),
    ("2.1.2", "押运与守护", "工作内容"),
    ("2.1.3", "随身护卫", "工作内容"),
    ("2.2", "巡逻与安全检查", "职业功能"),
    ("2.2.1", "巡逻", "工作内容"),
    ("2.2.2", "安全检查与技防", "工作内容"),
    ("2.3", "秩序维护与应急处置", "职业功能"),
    ("2.3.1", "秩序维护与大型活动", "工作内容"),
    ("2.3.2", "突发事件与应急处置", "工作内容"),
    ("9", "综合", "label"),
)

# Starting weight table (比重表) for level-5 theory: each label's share of the public bank, rounded
# to sum to 1. The 2019 national standard's own table is not in the shared data; staff replace these.
LEVEL5_THEORY_WEIGHTS: dict[str, float] = {
    "1.1.1": 0.04,
    "1.2.1": 0.12,
    "1.2.2": 0.08,
    "1.2.3": 0.12,
    "1.2.4": 0.11,
    "1.2.5": 0.08,
    "1.2.6": 0.08,
    "2.1.1": 0.03,
    "2.1.2": 0.10,
    "2.1.3": 0.01,
    "2.2.1": 0.08,
    "2.2.2": 0.03,
    "2.3.1": 0.03,
    "2.3.2": 0.01,
    "9": 0.08,
}


def ensure_standard_tree(session: Session, actor: str, level: int = 5, part: str = THEORY) -> int:
    """Create the shipped tree for `level`/`part` if that level has no areas yet; returns areas created."""
    if level != 5 or part != THEORY:
        return 0
    exists = session.scalar(
        select(func.count())
        .select_from(KnowledgeArea)
        .where(KnowledgeArea.level == level, KnowledgeArea.part == part)
    )
    if exists:
        return 0
    by_code: dict[str, KnowledgeArea] = {}
    positions: dict[str, int] = {}
    for code, name, kind in LEVEL5_THEORY_TREE:
        parent_code = code.rpartition(".")[0]
        position = positions[parent_code] = positions.get(parent_code, -1) + 1
        area = KnowledgeArea(
            code=code,
            name=name,
            kind=kind,
            level=level,
            part=part,
            parent=by_code.get(parent_code),
            position=position,
        )
        session.add(area)
        by_code[code] = area
    created = len(by_code)
    session.flush()
    for code, share in LEVEL5_THEORY_WEIGHTS.items():
        session.add(AreaWeight(level=level, part=part, area_id=by_code[code].id, share=share))
    audit(session, actor, "tree.seed", "knowledge_area", f"{level}/{part}", after={"areas": created})
    return created
