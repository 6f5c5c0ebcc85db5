"""The direct path: run a program's instructions on JAX arrays, one op call per instruction.

Traced under `jax.jit`, this compiles to the same computation a hand-written optimizer would;
`to_optax` and the dedup fingerprint use it. (The search trains programs through the
compile-once interpreter instead, see `interpret`.)
"""
from __future__ import annotations

from typing import Any

from lion_search.language import INPUTS, Arg, Program
from lion_search.ops import OPS, Kind
from lion_search.runtime import each, reduce_all, reduce_each

Value = Any  # a list of leaf arrays, or a scalar shared by all leaves


def run_program(program: Program, w: Value, g: Value, lr: Value, t: Value,
                *memory: Value) -> tuple[Value, ...]:
    """Evaluate `program` once: returns (update, *new memory values)."""
    env: dict[str, Value] = dict(zip(INPUTS + program.memory, (w, g, lr, t) + memory))

    def value(a: Arg) -> Value:
        return env[a] if isinstance(a, str) else a

    for ins in program.body:
        op = OPS[ins.op]
        args = [value(a) for a in ins.args]
        if op.kind is Kind.ELEMENTWISE:
            env[ins.dst] = each(op.fn, *args)
        else:
            reduce = reduce_each if op.kind is Kind.TENSOR_REDUCE else reduce_all
            env[ins.dst] = reduce(op.fn, *args, w)
    return tuple(value(a) for a in program.outputs)
