"""The item analysis of a sitting as an Excel workbook, one sheet per table (pandas + openpyxl).

An office reads it: figures are rounded and carry number formats (合格率 and other shares as percentages),
review flags are named in Chinese, not by their codes.
"""

from __future__ import annotations

import io

from exam_server.analysis.compute import SessionAnalysis, form_summary
from exam_server.analysis.settings import MODEL_LABELS

ITEM_COLUMNS = {
    "form_code": "试卷",
    "position": "题号",
    "external_id": "试题编号",
    "version_id": "版本ID",
    "type": "题型",
    "key": "答案",
    "points": "分值",
    "n": "作答人数",
    "mean": "平均得分",
    "p": "难度p",
    "r_corrected": "校正题总相关r",
    "omit_rate": "未答率",
    "a": "区分度a",
    "b": "难度b",
    "c": "猜测c",
    "se_a": "a标准误",
    "se_b": "b标准误",
    "flags": "标记原因",
}
FORM_COLUMNS = {
    "form_code": "试卷",
    "n_persons": "人数",
    "n_items": "题数",
    "max_total": "满分",
    "mean": "平均分",
    "sd": "标准差",
    "min": "最低分",
    "q1": "下四分位",
    "median": "中位数",
    "q3": "上四分位",
    "max": "最高分",
    "alpha": "信度α(KR-20)",
    "sem": "测量标准误SEM",
    "pass_rate": "合格率",
    "n_flagged": "标记题数",
}

DISTRACTOR_COLUMNS = {
    "form_code": "试卷",
    "position": "题号",
    "external_id": "试题编号",
    "option": "选项",
    "is_key": "是否答案",
    "share": "全体选择率",
    "share_upper": "高分组选择率",
    "share_lower": "低分组选择率",
    "upper_minus_lower": "高低组差",
    "upper_distractor": "高分组偏好的干扰项",
    "miskey": "疑似答案错误",
}


# The review flags' codes (scoring.ctt) as people name them.
FLAG_LABELS = {
    "p_low": "过难",
    "p_high": "过易",
    "r_low": "区分度低",
    "upper_distractor": "干扰项异常",
    "miskey": "疑似答案错误",
}
# Number formats by column header; a column not named here keeps what Excel shows for its values.
PERCENT = "0.0%"
NUMBER_FORMATS = {
    **dict.fromkeys(("合格率", "未答率", "全体选择率", "高分组选择率", "低分组选择率", "高低组差"), PERCENT),
    **dict.fromkeys(
        (
            "难度p",
            "校正题总相关r",
            "区分度a",
            "难度b",
            "猜测c",
            "a标准误",
            "b标准误",
            "截距d",
            "信度α(KR-20)",
        ),
        "0.000",
    ),
    **dict.fromkeys(
        (
            "平均得分",
            "平均分",
            "标准差",
            "最低分",
            "下四分位",
            "中位数",
            "上四分位",
            "最高分",
            "测量标准误SEM",
            "分值",
            "满分",
            "分数下限",
            "分数上限",
            "对数似然",
        ),
        "0.0#",
    ),
    **dict.fromkeys(("作答人数", "人数", "题数", "题号", "标记题数", "版本ID"), "0"),
}
# Stored values are rounded too, so a cell read by another program is not 68.11666666666666.
DECIMALS = 4


def _format_sheet(ws: object) -> None:
    """Number formats on every data cell of a column named in NUMBER_FORMATS."""
    rows = list(ws.iter_rows())  # type: ignore[attr-defined]
    if not rows:
        return
    for index, header in enumerate(rows[0]):
        number_format = NUMBER_FORMATS.get(str(header.value or ""))
        if number_format is None:
            continue
        for row in rows[1:]:
            cell = row[index]
            if isinstance(cell.value, int | float) and not isinstance(cell.value, bool):
                cell.number_format = number_format


def flag_labels(codes: str) -> str:
    """ "p_high,r_low" -> "过易、区分度不足"."""
    return "、".join(FLAG_LABELS.get(c, c) for c in codes.split(",") if c)


def export_excel(analysis: SessionAnalysis) -> bytes:
    """The analysis as an .xlsx workbook, one sheet per table (forms, items, distractors, flags,
    score distribution, IRT parameters)."""
    # Imported here, on first use: the analysis web domain imports this module, and a restarted exam
    # server must listen again within seconds.
    import pandas as pd

    items = pd.concat([f.table.assign(form_code=f.form_code) for f in analysis.forms], ignore_index=True)
    dis_frames = []
    for f in analysis.forms:
        d = f.ctt.distractors
        if len(d):
            meta = {it.version_id: it for it in f.data.items}
            d = d.assign(
                form_code=f.form_code,
                position=[meta[int(v)].position for v in d["item"]],
                external_id=[meta[int(v)].external_id for v in d["item"]],
            )
            dis_frames.append(d)
    distractors = (
        pd.concat(dis_frames, ignore_index=True)
        if dis_frames
        else pd.DataFrame(columns=list(DISTRACTOR_COLUMNS))
    )
    hist = pd.concat(
        [f.ctt.histogram.assign(form_code=f.form_code) for f in analysis.forms], ignore_index=True
    )
    if analysis.irt.fitted:
        names = {it.version_id: it.external_id for f in analysis.forms for it in f.data.items}
        irt = analysis.irt.params.reset_index()
        irt.insert(1, "external_id", [names.get(int(v), "") for v in irt["version_id"]])
        irt = irt.rename(
            columns={
                "version_id": "版本ID",
                "external_id": "试题编号",
                "n": "作答人数",
                "a": "区分度a",
                "b": "难度b",
                "c": "猜测c",
                "d": "截距d",
            }
        )
    else:
        irt = pd.DataFrame({"说明": [analysis.irt.message or "未做IRT估计"]})
    about = pd.DataFrame(
        {
            "项目": [
                "考试场次",
                "名称",
                "作答人数",
                "IRT模型",
                "IRT收敛",
                "对数似然",
                "计算时间",
                "标记规则",
            ],
            "内容": [
                analysis.code,
                analysis.name,
                analysis.n_attempts,
                MODEL_LABELS[analysis.settings.model],
                "是" if analysis.irt.converged else "否",
                round(analysis.irt.loglik, 2)
                if isinstance(analysis.irt.loglik, float)
                else analysis.irt.loglik,
                f"{analysis.computed_at:%Y-%m-%d %H:%M} UTC",
                f"p<{analysis.settings.thresholds.p_min:g} 或 p>{analysis.settings.thresholds.p_max:g}，"
                f"r<{analysis.settings.thresholds.r_min:g}，高分组更多选择的干扰项，疑似答案错误",
            ],
        }
    )
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xl:
        about.to_excel(xl, sheet_name="说明", index=False)
        form_summary(analysis)[list(FORM_COLUMNS)].rename(columns=FORM_COLUMNS).round(DECIMALS).to_excel(
            xl, sheet_name="试卷统计", index=False
        )
        items[list(ITEM_COLUMNS)].rename(columns=ITEM_COLUMNS).round(DECIMALS).to_excel(
            xl, sheet_name="试题统计", index=False
        )
        distractors[list(DISTRACTOR_COLUMNS)].rename(columns=DISTRACTOR_COLUMNS).round(DECIMALS).to_excel(
            xl, sheet_name="干扰项分析", index=False
        )
        analysis.flags.drop(columns=["form_id"]).assign(
            code=[FLAG_LABELS.get(c, c) for c in analysis.flags["code"]]
        ).rename(
            columns={
                "form_code": "试卷",
                "version_id": "版本ID",
                "position": "题号",
                "external_id": "试题编号",
                "code": "标记",
                "reason": "原因",
            }
        ).round(DECIMALS).to_excel(xl, sheet_name="标记试题", index=False)
        hist[["form_code", "bin_left", "bin_right", "count"]].rename(
            columns={"form_code": "试卷", "bin_left": "分数下限", "bin_right": "分数上限", "count": "人数"}
        ).round(DECIMALS).to_excel(xl, sheet_name="分数分布", index=False)
        irt.round(DECIMALS).to_excel(xl, sheet_name="IRT参数", index=False)
        for ws in xl.book.worksheets:
            _format_sheet(ws)
            for column in ws.columns:
                width = max(len(str(c.value or "")) for c in column[:50])
                ws.column_dimensions[column[0].column_letter].width = min(max(8, width * 1.6), 60)
    return buf.getvalue()
