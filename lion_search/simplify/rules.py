"""The exact rewrite rules (`RULES`, each a named local rewrite) and `rewrite`, which applies
them, with dead-code removal, until none fires (see the package's docstring for where a rule
is not bit-exact)."""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, NamedTuple

import numpy as np

from lion_search.language.edits import accept
from lion_search.language.ops import OPS, Kind
from lion_search.language.program import Arg, Instr, Program
from lion_search.language.validate import Limits
from lion_search.simplify.dataflow import (
    FLOAT32_MAX,
    copy_instr,
    definition,
    is_constant,
    is_finite,
    producer,
    redirect,
    replaced,
    same_value,
    short_constant,
)
from lion_search.simplify.dead_code import remove_dead

LIMITS = Limits(max_length=10**6, max_memory=10**6)  # simplification never lengthens a program
MAX_REWRITES = 10_000   # a bound on rule applications; every rule makes a program simpler
MAX_WEIGHT = 2.0        # the largest |a| for which interp rules merge or drop interp(x, y, a)


class Rule(NamedTuple):
    """A named rewrite: `apply` rewrites one occurrence (the result normalized and valid), or
    returns None where the rule does not apply."""

    name: str
    doc: str
    apply: Callable[[Program], Program | None]


Matcher = Callable[[Program, int], Instr | None]  # a replacement for body[i], or None


def _local(matcher: Matcher) -> Callable[[Program], Program | None]:
    """A rule's apply from a matcher: rewrite the first instruction whose replacement is valid."""
    def apply(program: Program) -> Program | None:
        for i in range(len(program.body)):
            new = matcher(program, i)
            result = None if new is None else accept(program, replaced(program, i, new), LIMITS)
            if result is not None:
                return result
        return None
    return apply


def _fold_constants(p: Program, i: int) -> Instr | None:
    ins = p.body[i]
    op = OPS[ins.op]
    if ins.op == "copy" or op.kind is not Kind.ELEMENTWISE \
            or any(isinstance(a, str) for a in ins.args):
        return None
    value = float(np.asarray(op.fn(*ins.args)))  # what execute.run_program computes
    return copy_instr(ins, short_constant(value)) if abs(value) <= FLOAT32_MAX else None


def _copy_propagate(program: Program) -> Program | None:
    """Apply of copy_propagate (it edits the readers, not the copy)."""
    for i, ins in enumerate(program.body):
        if ins.op != "copy":
            continue
        value = ins.args[0]
        if value == ins.dst:
            candidate = replace(program, body=program.body[:i] + program.body[i + 1:])
        else:
            candidate = redirect(program, ins.dst, i + 1, value, i)
        result = accept(program, candidate, LIMITS)
        if result is not None:
            return result
    return None


def _commuted(ins: Instr, op: str, constant: float) -> Arg | None:
    """x if `ins` is op(x, constant) or op(constant, x)."""
    if ins.op != op:
        return None
    x, y = ins.args
    return x if is_constant(y, constant) else y if is_constant(x, constant) else None


def _mul_one(p: Program, i: int) -> Instr | None:
    x = _commuted(p.body[i], "mul", 1.0)
    return None if x is None else copy_instr(p.body[i], x)


def _mul_minus_one(p: Program, i: int) -> Instr | None:
    x = _commuted(p.body[i], "mul", -1.0)
    return None if x is None else Instr(p.body[i].dst, "neg", (x,))


def _mul_zero(p: Program, i: int) -> Instr | None:
    x = _commuted(p.body[i], "mul", 0.0)
    return None if x is None or not is_finite(p, i, x) else copy_instr(p.body[i], 0.0)


def _add_zero(p: Program, i: int) -> Instr | None:
    ins = p.body[i]
    x = _commuted(ins, "add", 0.0)
    if ins.op == "sub" and is_constant(ins.args[1], 0.0):
        x = ins.args[0]
    return None if x is None else copy_instr(ins, x)


def _zero_minus(p: Program, i: int) -> Instr | None:
    ins = p.body[i]
    if ins.op == "sub" and is_constant(ins.args[0], 0.0):
        return Instr(ins.dst, "neg", (ins.args[1],))
    return None


def _sub_self(p: Program, i: int) -> Instr | None:
    ins = p.body[i]
    if ins.op == "sub" and ins.args[0] == ins.args[1] and is_finite(p, i, ins.args[0]):
        return copy_instr(ins, 0.0)
    return None


def _div_one(p: Program, i: int) -> Instr | None:
    ins = p.body[i]
    if ins.op == "div" and is_constant(ins.args[1], 1.0):
        return copy_instr(ins, ins.args[0])
    return None


def _double_neg(p: Program, i: int) -> Instr | None:
    ins = p.body[i]
    inner = producer(p, i, ins.args[0], {"neg"}) if ins.op == "neg" else None
    if inner is None or not same_value(p, inner[1].args[0], inner[0], i):
        return None
    return copy_instr(ins, inner[1].args[0])


def _squared(p: Program, at: int, a: Arg) -> Arg | None:
    """x if the value `a` read at `at` is x * x or square(x), x holding the same value at `at`."""
    found = producer(p, at, a, {"mul", "square"})
    if found is None:
        return None
    j, ins = found
    x = ins.args[0]
    if (ins.op == "mul" and ins.args[1] != x) or not same_value(p, x, j, at):
        return None
    return x


def _absolute(p: Program, at: int, a: Arg) -> Arg | None:
    """x if the value `a` read at `at` is abs(x), sqrt(x * x) or sqrt(square(x)), x holding the
    same value at `at`."""
    found = producer(p, at, a, {"abs", "sqrt"})
    if found is None:
        return None
    j, ins = found
    x = ins.args[0] if ins.op == "abs" else _squared(p, j, ins.args[0])
    return x if x is not None and same_value(p, x, j, at) else None


def _sign_of_ratio(p: Program, i: int) -> Instr | None:
    ins = p.body[i]
    if ins.op != "div" or _absolute(p, i, ins.args[1]) != ins.args[0]:
        return None
    return Instr(ins.dst, "sign", (ins.args[0],))


def _abs_of_sqrt(p: Program, i: int) -> Instr | None:
    ins = p.body[i]
    x = _squared(p, i, ins.args[0]) if ins.op == "sqrt" else None
    return None if x is None else Instr(ins.dst, "abs", (x,))


def _sign_sign(p: Program, i: int) -> Instr | None:
    ins = p.body[i]
    if ins.op == "sign" and producer(p, i, ins.args[0], {"sign"}) is not None:
        return copy_instr(ins, ins.args[0])
    return None


COMPARE = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
           "eq": np.equal, "ne": np.not_equal}


def _where_constant(p: Program, i: int) -> Instr | None:
    ins = p.body[i]
    if ins.op != "where" or isinstance(ins.args[0], str):
        return None
    return copy_instr(ins, ins.args[1] if ins.args[0] != 0 else ins.args[2])


def _step_steps(c: float) -> list[float]:
    """Steps t >= 1 at which a comparison of t with c takes every value it takes on 1, 2, ...:
    1, the integers next to c, and one beyond (it changes only at c)."""
    near = [np.floor(c), np.ceil(c), np.ceil(c) + 1]
    return [1.0] + [float(x) for x in near if x >= 1]


def _step_compare(p: Program, i: int) -> Instr | None:
    ins = p.body[i]
    if ins.op not in COMPARE or "t" not in ins.args or definition(p, i, "t") is not None:
        return None
    a, b = ins.args
    c = b if a == "t" else a
    if isinstance(c, str):
        return None
    values = {bool(COMPARE[ins.op](t, c) if a == "t" else COMPARE[ins.op](c, t))
              for t in _step_steps(c)}
    return copy_instr(ins, float(values.pop())) if len(values) == 1 else None


def _step_where(p: Program, i: int) -> Instr | None:
    ins = p.body[i]
    if ins.op != "where" or ins.args[0] != "t" or definition(p, i, "t") is not None:
        return None
    return copy_instr(ins, ins.args[1])


def _small_weight(a: Arg) -> bool:
    """Whether `a` is a constant interp weight with |a| <= MAX_WEIGHT."""
    return not isinstance(a, str) and abs(a) <= MAX_WEIGHT


def _interp_same(p: Program, i: int) -> Instr | None:
    ins = p.body[i]
    if ins.op == "interp" and ins.args[0] == ins.args[1] and _small_weight(ins.args[2]):
        return copy_instr(ins, ins.args[0])
    return None


def _interp_zero(p: Program, i: int) -> Instr | None:
    ins = p.body[i]
    if ins.op == "interp" and is_constant(ins.args[2], 0.0) and is_finite(p, i, ins.args[1]):
        return copy_instr(ins, ins.args[0])
    return None


def _interp_one(p: Program, i: int) -> Instr | None:
    ins = p.body[i]
    if ins.op == "interp" and is_constant(ins.args[2], 1.0) and is_finite(p, i, ins.args[0]):
        return copy_instr(ins, ins.args[1])
    return None


def _interp_interp(p: Program, i: int) -> Instr | None:
    ins = p.body[i]
    if ins.op != "interp" or not _small_weight(ins.args[2]):
        return None
    x, y, b = ins.args
    found = producer(p, i, y, {"interp"})
    if found is None:
        return None
    j, inner = found
    x2, z, a = inner.args
    if x2 != x or not _small_weight(a) or not (same_value(p, x, j, i) and same_value(p, z, j, i)):
        return None
    return Instr(ins.dst, "interp", (x, z, short_constant(a * b)))


def _zero_slot(program: Program) -> Program | None:
    """Apply of zero_slot: a slot that no instruction writes and that returns itself."""
    end = len(program.body)
    for k, slot in enumerate(program.memory):
        if program.outputs[1 + k] != slot or definition(program, end, slot) is not None:
            continue
        body = tuple(replace(ins, args=tuple(0.0 if a == slot else a for a in ins.args))
                     for ins in program.body)
        outputs = tuple(0.0 if a == slot and n != 1 + k else a
                        for n, a in enumerate(program.outputs))
        result = accept(program, replace(program, body=body, outputs=outputs), LIMITS)
        if result is not None:
            return result
    return None


RULES: tuple[Rule, ...] = (
    Rule("fold_constants", "op(c1, ..., cn) -> c for elementwise ops (a reduction's value "
         "depends on the tensor's size), computed as the direct path (execute, to_optax) "
         "computes it (arithmetic on Python floats, jnp ops in float32) and written short "
         "(to 1e-10); not where |c| would exceed the float32 range",
         _local(_fold_constants)),
    Rule("copy_propagate", "y = x; ... f(y) -> f(x) where x still holds the same value; "
         "x = x is dropped", _copy_propagate),
    Rule("zero_slot", "a memory slot whose new value is its old one stays at its initial 0: "
         "its reads become 0 (and the slot goes)", _zero_slot),
    Rule("mul_one", "x * 1 -> x, 1 * x -> x", _local(_mul_one)),
    Rule("mul_minus_one", "x * -1 -> -x, -1 * x -> -x", _local(_mul_minus_one)),
    Rule("mul_zero", "x * 0 -> 0, 0 * x -> 0, when x is provably finite (0 * inf is NaN)",
         _local(_mul_zero)),
    Rule("add_zero", "x + 0 -> x, 0 + x -> x, x - 0 -> x", _local(_add_zero)),
    Rule("zero_minus", "0 - x -> -x", _local(_zero_minus)),
    Rule("sub_self", "x - x -> 0, when x is provably finite (inf - inf is NaN)", _local(_sub_self)),
    Rule("div_one", "x / 1 -> x", _local(_div_one)),
    Rule("double_neg", "-(-x) -> x", _local(_double_neg)),
    Rule("sign_of_ratio", "x / sqrt(x * x), x / sqrt(square(x)), x / abs(x) -> sign(x) (safe "
         "division gives 0 at x = 0, as sign does; differs only where x * x over- or underflows)",
         _local(_sign_of_ratio)),
    Rule("abs_of_sqrt", "sqrt(x * x), sqrt(square(x)) -> abs(x) (differs only where x * x "
         "over- or underflows)", _local(_abs_of_sqrt)),
    Rule("sign_sign", "sign(sign(x)) -> sign(x)", _local(_sign_sign)),
    Rule("where_constant", "where(c, x, y) -> x for a constant c != 0, y for c = 0",
         _local(_where_constant)),
    Rule("step_compare", "t < c, t >= c, t == c, ... -> 0 or 1 where the comparison of the step "
         "t (1, 2, ...; not reassigned before) with the constant c is the same at every step "
         "(t < 0.6 -> 0)", _local(_step_compare)),
    Rule("step_where", "where(t, x, y) -> x where t is the step (1, 2, ...; not reassigned "
         "before), never 0: y and what only it reads are dead", _local(_step_where)),
    Rule("interp_same", "interp(x, x, a) -> x for a constant |a| <= MAX_WEIGHT "
         "((1 - a) x + a x = x, up to rounding)",
         _local(_interp_same)),
    Rule("interp_zero", "interp(x, y, 0) -> x, when y is provably finite", _local(_interp_zero)),
    Rule("interp_one", "interp(x, y, 1) -> y, when x is provably finite", _local(_interp_one)),
    Rule("interp_interp", "interp(x, interp(x, y, a), b) -> interp(x, y, a * b) for constants "
         "|a|, |b| <= MAX_WEIGHT: an EMA of an EMA of the same input",
         _local(_interp_interp)),
)


def rewrite(program: Program) -> tuple[Program, list[str]]:
    """Dead-code removal and the first applicable rule of RULES, repeated until no rule applies:
    the normalized result and the names of the rules applied, in order."""
    current, applied = remove_dead(program), []
    for _ in range(MAX_REWRITES):
        for rule in RULES:
            result = rule.apply(current)
            if result is not None:
                current = remove_dead(result)
                applied.append(rule.name)
                break
        else:
            return current, applied
    raise RuntimeError(f"rewriting {program.name!r} did not reach a fixed point in "
                       f"{MAX_REWRITES} steps; last rule: {applied[-1]}")
