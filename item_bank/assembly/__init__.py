"""Paper assembly (组卷): blueprint → parallel forms through one mixed-integer program solved by HiGHS.

Public entry points: `assemble_forms` (store forms), `solve_blueprint` (choose items, no writes),
`evaluate_forms` (measure forms against a blueprint), and the errors `AssemblyInfeasible`
(its message names what is short) and `AssemblyTimeout`. The model lives in `constraints` (one builder
per constraint kind), the pool in `pool`, infeasibility wording in `explain`.
"""

from item_bank.assembly.engine import (
    AssemblyError,
    AssemblyInfeasible,
    AssemblyResult,
    AssemblyTimeout,
    IdenticalForm,
    PlannedAssembly,
    Solution,
    SolverSettings,
    assemble_forms,
    order_form,
    plan_assembly,
    solve_blueprint,
    store_assembly,
)
from item_bank.assembly.evaluate import evaluate_form, evaluate_forms
from item_bank.assembly.explain import Shortfall
from item_bank.assembly.pool import ItemRecord, Pool, Unit, load_pool

__all__ = [
    "AssemblyError",
    "AssemblyInfeasible",
    "AssemblyResult",
    "AssemblyTimeout",
    "IdenticalForm",
    "ItemRecord",
    "PlannedAssembly",
    "Pool",
    "Shortfall",
    "Solution",
    "SolverSettings",
    "Unit",
    "assemble_forms",
    "evaluate_form",
    "evaluate_forms",
    "load_pool",
    "order_form",
    "plan_assembly",
    "solve_blueprint",
    "store_assembly",
]
