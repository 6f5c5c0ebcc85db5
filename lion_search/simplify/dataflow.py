"""Per-name data-flow queries and body edits, shared by the rewrite rules and ablation: which
instruction defined the value a read sees, which sites read it, whether it holds the same
value at two sites or is provably finite, and edits that replace an instruction or make a
value's readers read another value. (The whole-program graph is `dead_code.dataflow_graph`.)"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from lion_search.language.edits import round_significant
from lion_search.language.program import ALL_INPUTS, Arg, Instr, Program, is_temp

# Ops whose result is finite when their arguments are (the runtime clips div, pow, exp, expm1
# and cosh, floors log); + - * square interp and the reductions can overflow.
_FINITE_OPS = frozenset({"div", "pow", "mod", "neg", "abs", "sign", "sqrt", "rsqrt", "exp",
                         "expm1", "log", "log1p", "max", "min", "clip", "where", "tanh",
                         "arcsin", "arctan", "cosh", "copy"})
_COMPARISONS = frozenset({"lt", "le", "gt", "ge", "eq", "ne"})  # 0 or 1, even of NaN
FLOAT32_MAX = float(np.finfo(np.float32).max)


def definition(program: Program, at: int, name: str) -> int | None:
    """The index of the instruction whose value a read of `name` at `at` sees (the latest write
    before `at`; at = len(body) for the outputs), or None for the value on entry."""
    return next((j for j in range(at - 1, -1, -1) if program.body[j].dst == name), None)


def same_value(program: Program, a: Arg, at: int, other: int) -> bool:
    """Whether argument `a` holds the same value when read at `at` and at `other`."""
    return not isinstance(a, str) or definition(program, at, a) == definition(program, other, a)


def producer(program: Program, at: int, a: Arg, ops: frozenset[str] | set[str]
              ) -> tuple[int, Instr] | None:
    """(index, instruction) that computed the value `a` read at `at`, if its op is in `ops`."""
    j = definition(program, at, a) if isinstance(a, str) else None
    return (j, program.body[j]) if j is not None and program.body[j].op in ops else None


def _reads(program: Program, name: str, start: int) -> list[int]:
    """The sites (instruction indices, len(body) for the outputs) from `start` on that read the
    value `name` holds at `start`: up to and including the next instruction that writes it."""
    sites = []
    for j in range(start, len(program.body)):
        if name in program.body[j].args:
            sites.append(j)
        if program.body[j].dst == name:
            return sites
    return sites + [len(program.body)] if name in program.outputs else sites


def redirect(program: Program, name: str, start: int, value: Arg, at: int) -> Program:
    """The reads of the value `name` holds at `start` read `value` (as read at `at`) instead,
    at each site where `value` still holds what it held at `at`."""
    body, outputs = list(program.body), program.outputs

    def sub(args: tuple[Arg, ...]) -> tuple[Arg, ...]:
        return tuple(value if a == name else a for a in args)

    for j in _reads(program, name, start):
        if not same_value(program, value, at, j):
            continue
        if j == len(body):
            outputs = sub(outputs)
        else:
            body[j] = replace(body[j], args=sub(body[j].args))
    return replace(program, body=tuple(body), outputs=outputs)


def _finite_names(program: Program, at: int) -> set[str]:
    """Names whose value at `at` is finite whenever the inputs and memory are: those computed
    by a comparison, or by an op of _FINITE_OPS from finite arguments."""
    finite = set(ALL_INPUTS) | set(program.memory)
    for ins in program.body[:at]:
        if ins.op in _COMPARISONS or (ins.op in _FINITE_OPS and all(
                not isinstance(a, str) or a in finite for a in ins.args)):
            finite.add(ins.dst)
        else:
            finite.discard(ins.dst)
    return finite


def is_finite(program: Program, at: int, a: Arg) -> bool:
    """Whether argument `a` read at `at` is provably finite (constants are)."""
    return not isinstance(a, str) or a in _finite_names(program, at)


def is_constant(a: Arg, value: float) -> bool:
    """Whether argument `a` is the constant `value`."""
    return not isinstance(a, str) and a == value


def short_constant(x: object) -> float:
    """x as the shortest decimal within 1e-10 of it, relatively: 0.001 for the
    0.0010000000000000009 of 1 - 0.999, 1.4142135382 for the float32 sqrt(2)."""
    x = float(np.asarray(x))
    return next(d for d in (round_significant(x, k) for k in range(1, 18))
                if abs(d - x) <= 1e-10 * abs(x))


def with_instr(program: Program, index: int, ins: Instr) -> Program:
    return replace(program, body=program.body[:index] + (ins,) + program.body[index + 1:])


def copy_instr(ins: Instr, value: Arg) -> Instr:
    """`ins.dst = value`."""
    return Instr(ins.dst, "copy", (value,))


def replaced(program: Program, index: int, ins: Instr) -> Program:
    """The program with instruction `index` replaced by `ins`; a copy into a temporary is
    inlined into its readers (normalizing would otherwise name it, or the expression it
    copies, as a variable v1)."""
    program = with_instr(program, index, ins)
    if ins.op != "copy" or not is_temp(ins.dst):
        return program
    program = redirect(program, ins.dst, index + 1, ins.args[0], index)
    if _reads(program, ins.dst, index + 1):
        return program
    return replace(program, body=program.body[:index] + program.body[index + 1:])
