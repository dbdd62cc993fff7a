"""The workbook an office keeps: numbers are numbers, rates are fractions formatted as percentages, Chinese
headers, wrapped text, a frozen header, one sheet per breakdown."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from reports_support import NOW, World
from sqlalchemy.orm import Session

from exam_server.reports import figures as F
from exam_server.reports.workbook import PERCENT_FORMAT, workbook_bytes

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_cells_are_numbers_and_rates_are_percentages(session: Session, world: World) -> None:
    period = F.Period.parse("2026-03-01", "2026-04-30")
    scope = F.centre_scope(session, world.centres["C1"])
    data = workbook_bytes(F.compute(session, scope, period, now=NOW), holders=F.holders(session, scope, period))
    wb = load_workbook(io.BytesIO(data))  # our own bytes, not an upload
    for name in ("说明", "考试-按等级", "考试-按考核科目", "考试-按考试场次", "考试-按考点", "考试-按试点单位", "考试-按城市",
                 "申请-按等级", "等级-按等级", "成绩分布", "合格率趋势", "证书发放", "持证人员名册"):
        assert name in wb.sheetnames, name
    ws = wb["考试-按等级"]
    headers = [c.value for c in ws[1]]
    assert headers[:4] == ["等级", "应考人数", "实考人数", "缺考人数"]
    assert ws.freeze_panes == "B2"
    assert ws[1][0].alignment.wrap_text and ws[1][0].font.bold
    assert ws.column_dimensions["A"].width >= 10
    rows = {r[0].value: r for r in ws.iter_rows(min_row=2)}
    level5 = rows[F.LEVEL_NAMES[5]]
    present = level5[headers.index("实考人数")]
    assert present.value == 8 and isinstance(present.value, int)
    passed_rate = level5[headers.index("合格率")]
    assert passed_rate.value == pytest.approx(6 / 8) and passed_rate.number_format == PERCENT_FORMAT
    attendance = level5[headers.index("出勤率")]
    assert attendance.value == pytest.approx(8 / 10) and attendance.number_format == PERCENT_FORMAT
    assert level5[headers.index("平均分")].value == pytest.approx(530 / 8, abs=0.05)
    holders = wb["持证人员名册"]
    assert [c.value for c in holders[1]][:3] == ["序号", "姓名", "身份证号（部分隐藏）"]
    assert holders.max_row == 4 and "*" in holders["C2"].value
