"""Background work of the ops package: the audit log's Excel export, and housekeeping (ops/housekeeping.py)."""

from __future__ import annotations

from typing import Any

from flask import current_app

from exam_server.jobs import JobContext, job_handler
from exam_server.ops.export import MAX_ROWS, write_audit_xlsx
from exam_server.ops.housekeeping import HOUSEKEEPING, report_lines, run_housekeeping
from exam_server.ops.queries import AuditQuery, audit_rows, count_matching

AUDIT_ROLES = ("centre_staff",)  # and admin, who may see every job


@job_handler("audit.export", label="导出审计日志", roles=AUDIT_ROLES)
def export_audit(ctx: JobContext, **filters: str) -> dict[str, Any]:
    """The audit rows matching `filters` (an AuditQuery's fields) as 审计日志.xlsx."""
    query = AuditQuery(**{k: str(v) for k, v in filters.items() if k in AuditQuery.__dataclass_fields__})
    total = count_matching(ctx.session, query)
    ctx.progress(0.05, f"共 {total} 条记录，正在写入")
    limit = min(total, MAX_ROWS)

    def written(count: int) -> None:
        ctx.check_cancelled()
        ctx.progress(0.05 + 0.9 * count / max(limit, 1), f"已写入 {count} / {limit} 条")

    rows = write_audit_xlsx(ctx.output("审计日志.xlsx"), audit_rows(ctx.session, query, limit), written)
    ctx.session.commit()  # end the long read: on SQLite an open snapshot holds back the WAL checkpoint
    return {"rows": rows, "truncated": total > rows}


@job_handler(HOUSEKEEPING, label="例行清理", roles=())
def housekeeping(ctx: JobContext) -> dict[str, Any]:
    """Every registered housekeeping step (queued now and then by the server; admin sees these jobs)."""
    done = run_housekeeping(current_app._get_current_object(), ctx.session)  # type: ignore[attr-defined]
    return {"deleted": done, "lines": report_lines(done) or ["没有需要清理的内容。"]}
