"""The direct path: run a program's instructions on JAX arrays, one op call per instruction.

Traced under `jax.jit`, this compiles to the same computation a hand-written optimizer would;
`to_optax` uses it. It runs the program by its plan for the tensors (`plan.make_plan`): on each
tensor the instructions live there alone, a `where` whose condition is static there being its
branch. (The search trains programs through the compile-once interpreter instead, see
`evaluation.interpreter`.)
"""
from __future__ import annotations

from typing import Any

import numpy as np

from lion_search.language import runtime
from lion_search.language.ops import functions
from lion_search.language.plan import Plan
from lion_search.language.program import Program
from lion_search.language.shapes import code_of, plan_for

Value = Any  # a list of leaf arrays, or a scalar shared by all leaves


def run_program(program: Program, w: Value, g: Value, lr: Value, t: Value, *memory: Value,
                total_steps: float | None = None, plan: Plan | None = None) -> tuple[Value, ...]:
    """Evaluate `program` once on lists of leaves (w's give the shape inputs and, by default,
    the plan; T is `total_steps`, NaN when None): returns (update, *new memory values[,
    evaluation weights]), a value being None on the leaves where the plan does not need it."""
    if plan is None:
        plan = plan_for(program, tuple(np.shape(x) for x in w))
    return runtime.run(code_of(program), functions(), w, g, lr, t, *memory, plan=plan,
                       total_steps=total_steps)
