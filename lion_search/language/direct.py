"""The direct path: run a program's instructions on JAX arrays, one op call per instruction.

Traced under `jax.jit`, this compiles to the same computation a hand-written optimizer would;
`to_optax` and the dedup fingerprint use it. (The search trains programs through the
compile-once interpreter instead, see `interpret`.)
"""
from __future__ import annotations

from typing import Any

from lion_search.language.ops import OPS, PER_LEAF_KINDS, Kind
from lion_search.language.program import ALL_INPUTS, Arg, Program
from lion_search.language.runtime import each, each_tensor, reduce_all, shape_inputs

Value = Any  # a list of leaf arrays, or a scalar shared by all leaves


def run_program(program: Program, w: Value, g: Value, lr: Value, t: Value, *memory: Value,
                total_steps: float | None = None) -> tuple[Value, ...]:
    """Evaluate `program` once on lists of leaves (w's give the shape inputs; T is
    `total_steps`, NaN when None): returns (update, *new memory values[, evaluation weights])."""
    inputs = (w, g, lr, t) + shape_inputs(w, total_steps)
    env: dict[str, Value] = dict(zip(ALL_INPUTS + program.memory, inputs + memory))

    def value(a: Arg) -> Value:
        return env[a] if isinstance(a, str) else a

    for ins in program.body:
        op = OPS[ins.op]
        args = [value(a) for a in ins.args]
        if op.kind is Kind.ELEMENTWISE:
            env[ins.dst] = each(op.fn, *args)
        else:
            apply = each_tensor if op.kind in PER_LEAF_KINDS else reduce_all
            env[ins.dst] = apply(op.fn, *args, w)
    return tuple(value(a) for a in program.outputs)
