"""Background jobs of assembly: building N parallel forms with HiGHS runs in the worker (`examctl assemble`
still solves in its own process)."""

from __future__ import annotations

from typing import Any

from exam_server.assembly.report import assembly_lines
from exam_server.jobs import JobContext, job_handler
from item_bank.assembly import AssemblyError, plan_assembly, store_assembly
from item_bank.models import Blueprint

ASSEMBLE = "assembly.assemble"
ROLES = ("bank_manager",)


@job_handler(ASSEMBLE, label="组卷", roles=ROLES)
def assemble(
    ctx: JobContext,
    *,
    blueprint_id: int,
    n_forms: int,
    time_limit_s: float,
    seed: int | None = None,
    allow_identical: bool = False,
) -> dict[str, Any]:
    """Read the pool and solve (no lock held: candidates keep saving), then store the forms in one short write;
    a form identical to a stored one is refused (nothing stored) unless `allow_identical`."""
    bp = ctx.session.get(Blueprint, blueprint_id)
    if bp is None:
        raise AssemblyError(f"蓝图 {blueprint_id} 不存在。", status=404)
    ctx.progress(0.05, f"正在读取题库，按蓝图「{bp.name}」组 {n_forms} 份试卷（求解最长 {time_limit_s:.0f} 秒）")
    planned = plan_assembly(ctx.session, bp, n_forms, time_limit_s=time_limit_s, seed=seed)
    ctx.check_cancelled()
    ctx.progress(0.9, "求解完成，正在保存试卷")
    ctx.begin_write()
    bp = ctx.session.get(Blueprint, blueprint_id)
    if bp is None:
        raise AssemblyError(f"蓝图 {blueprint_id} 已被删除，试卷未保存。", status=404)
    result = store_assembly(ctx.session, bp, planned, ctx.actor, allow_identical=allow_identical)
    ctx.session.commit()
    return {
        "lines": [
            f"已组成 {len(result.forms)} 份试卷（用时 {result.seconds:.1f} 秒，种子 {result.report['seed']}）",
            *assembly_lines(result),
        ],
        "forms": [form.code for form in result.forms],
        "form_ids": [form.id for form in result.forms],
        "group": result.group,
        "link": {"endpoint": "assembly.form_review", "values": {"form_id": result.forms[0].id},
                 "text": f"审阅试卷 {result.forms[0].code}"},
    }
