"""Simplify a program: dead-code removal, rewrite rules to a fixed point, and ablation.

Three steps, each reported (`simplify` runs them, `format_report` prints what they did):

* Dead code. The data-flow graph (`dataflow_graph`, a networkx DiGraph) has a node per
  instruction and per output, and an edge from the instruction that defines a value to every
  instruction or output that reads it (a read sees the latest earlier write). Across steps, the
  new value of a memory slot (an output) feeds the next step's reads of the slot, so it has an
  edge to them too. The optimizer's behaviour is its sequence of updates: an instruction is
  dead when the update (output 0) is not reachable from it, and a memory slot is dead when the
  update is not reachable from its new value (its old value is never read, or only by dead
  code, as with the `m = cosh(update)` of the Lion paper's raw Program 4, whose m is
  overwritten before it is read). `remove_dead` drops both.

* Rewrite rules (`RULES`), each a small named local rewrite applied to one occurrence; `rewrite`
  applies the first rule that fires and removes dead code, until no rule fires. A rule may use
  values computed by earlier instructions (x / sqrt(m2) with m2 = x * x) as long as no name it
  relies on was reassigned in between. Rules are exact in real arithmetic on finite values, and
  in float32 up to a few ulp (constants are folded as the direct path, `execute`, computes
  them); where they are not bit-exact it is said in the rule's doc:
    - sign_of_ratio and abs_of_sqrt differ only where x * x over- or underflows float32
      (|x| > 1.8e19 or |x| < 1e-19), where x / sqrt(x * x) gives 0 rather than sign(x);
    - interp_same and interp_interp change float32 rounding by a few ulp of the operands, and
      apply only to constant weights of magnitude at most MAX_WEIGHT (with larger ones the
      runtime's (1 - a) x + a y cancels, and its result is mostly rounding error);
    - a rule that drops a value multiplied by 0 (mul_zero, sub_self, interp_zero, interp_one)
      applies only when that value is provably finite (`_finite_names`): 0 * inf is NaN, and
      + - * square interp and the reductions can overflow to inf even from finite inputs.
  Every result is normalized (`language.normalize`) and passes `validate.check`; a rewrite that
  would make the program invalid (an update of scalar shape, say) is not made.

* Ablation (`ablate`): try the program without each instruction (its readers read one of its
  arguments instead) and with each constant rounded (0.899 -> 0.9, 0.4602 -> 0.5); keep a
  change when the fitness stays within a tolerance of the original's.
"""
from __future__ import annotations

import math
from dataclasses import replace
from itertools import groupby
from typing import TYPE_CHECKING, Callable, NamedTuple

import networkx as nx
import numpy as np

from lion_search.language import (ALL_INPUTS, INPUTS, Arg, Instr, Program, format_constant, is_temp,
                                  normalize, print_program)
from lion_search.mutate import accept, describe, round_significant
from lion_search.ops import OPS, Kind
from lion_search.shapes import format_cost, memory_cost
from lion_search.validate import Limits, check

if TYPE_CHECKING:
    from lion_search.store import RunStore

LIMITS = Limits(max_length=10**6, max_memory=10**6)  # simplification never lengthens a program
MAX_REWRITES = 10_000   # a bound on rule applications; every rule makes a program simpler
MAX_WEIGHT = 2.0        # the largest |a| for which interp rules merge or drop interp(x, y, a)

# Ops whose result is finite when their arguments are (the runtime clips div, pow, exp, expm1
# and cosh, floors log); + - * square interp and the reductions can overflow.
_FINITE_OPS = frozenset({"div", "pow", "mod", "neg", "abs", "sign", "sqrt", "rsqrt", "exp",
                         "expm1", "log", "log1p", "max", "min", "clip", "where", "tanh",
                         "arcsin", "arctan", "cosh", "copy"})
_COMPARISONS = frozenset({"lt", "le", "gt", "ge", "eq", "ne"})  # 0 or 1, even of NaN
_FLOAT32_MAX = float(np.finfo(np.float32).max)

Node = int | tuple[str, int]  # an instruction's index, or ("out", k) for output k


# ------------------------------------------------------------------------------------ dead code

def output_node(k: int) -> Node:
    """The graph node of output k (0: the update, 1 + j: the new value of memory slot j)."""
    return ("out", k)


def dataflow_graph(program: Program) -> nx.DiGraph:
    """Edges from each instruction to the instructions and outputs that read its value (a read
    sees the latest earlier write), and from each memory slot's new value (its output node) to
    the reads of the slot's value on entry, which see it at the next step."""
    graph = nx.DiGraph()
    graph.add_nodes_from(range(len(program.body)))
    graph.add_nodes_from(output_node(k) for k in range(len(program.outputs)))
    latest: dict[str, Node] = {slot: output_node(1 + k) for k, slot in enumerate(program.memory)}
    for i, ins in enumerate(program.body):
        graph.add_edges_from((latest[a], i) for a in ins.args if isinstance(a, str) and a in latest)
        latest[ins.dst] = i
    graph.add_edges_from((latest[a], output_node(k)) for k, a in enumerate(program.outputs)
                         if isinstance(a, str) and a in latest)
    return graph


def _live(program: Program) -> set[Node]:
    """The nodes from which the update or the evaluation weights are reachable, across steps
    (those outputs included)."""
    graph = dataflow_graph(program)
    ends = [output_node(0)] + ([output_node(len(program.outputs) - 1)] if program.has_eval else [])
    return set(ends).union(*(nx.ancestors(graph, end) for end in ends))


def dead_instructions(program: Program) -> set[int]:
    """Indices of the instructions from which the update is not reachable, across steps."""
    return set(range(len(program.body))) - _live(program)


def dead_slots(program: Program) -> set[str]:
    """Memory slots whose new value never reaches the update (at this step or a later one)."""
    live = _live(program)
    return {slot for k, slot in enumerate(program.memory) if output_node(1 + k) not in live}


def remove_dead(program: Program) -> Program:
    """The normalized program without its dead instructions and dead memory slots."""
    live = _live(program)
    kept = [k for k in range(len(program.memory)) if output_node(1 + k) in live]
    return normalize(Program(
        program.name, tuple(program.memory[k] for k in kept),
        tuple(ins for i, ins in enumerate(program.body) if i in live),
        program.with_eval((program.outputs[0],) + tuple(program.outputs[1 + k] for k in kept)),
        program.doc))


# ------------------------------------------------------------------------------ data-flow helpers

def _definition(program: Program, at: int, name: str) -> int | None:
    """The index of the instruction whose value a read of `name` at `at` sees (the latest write
    before `at`; at = len(body) for the outputs), or None for the value on entry."""
    return next((j for j in range(at - 1, -1, -1) if program.body[j].dst == name), None)


def _same_value(program: Program, a: Arg, at: int, other: int) -> bool:
    """Whether argument `a` holds the same value when read at `at` and at `other`."""
    return not isinstance(a, str) or _definition(program, at, a) == _definition(program, other, a)


def _producer(program: Program, at: int, a: Arg, ops: frozenset[str] | set[str]
              ) -> tuple[int, Instr] | None:
    """(index, instruction) that computed the value `a` read at `at`, if its op is in `ops`."""
    j = _definition(program, at, a) if isinstance(a, str) else None
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


def _redirect(program: Program, name: str, start: int, value: Arg, at: int) -> Program:
    """The reads of the value `name` holds at `start` read `value` (as read at `at`) instead,
    at each site where `value` still holds what it held at `at`."""
    body, outputs = list(program.body), program.outputs

    def sub(args: tuple[Arg, ...]) -> tuple[Arg, ...]:
        return tuple(value if a == name else a for a in args)

    for j in _reads(program, name, start):
        if not _same_value(program, value, at, j):
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


def _is_finite(program: Program, at: int, a: Arg) -> bool:
    """Whether argument `a` read at `at` is provably finite (constants are)."""
    return not isinstance(a, str) or a in _finite_names(program, at)


def _is_constant(a: Arg, value: float) -> bool:
    """Whether argument `a` is the constant `value`."""
    return not isinstance(a, str) and a == value


def _short_constant(x: object) -> float:
    """x as the shortest decimal within 1e-10 of it, relatively: 0.001 for the
    0.0010000000000000009 of 1 - 0.999, 1.4142135382 for the float32 sqrt(2)."""
    x = float(np.asarray(x))
    return next(d for d in (round_significant(x, k) for k in range(1, 18))
                if abs(d - x) <= 1e-10 * abs(x))


def _with_instr(program: Program, index: int, ins: Instr) -> Program:
    return replace(program, body=program.body[:index] + (ins,) + program.body[index + 1:])


def _copy(ins: Instr, value: Arg) -> Instr:
    """`ins.dst = value`."""
    return Instr(ins.dst, "copy", (value,))


def _replaced(program: Program, index: int, ins: Instr) -> Program:
    """The program with instruction `index` replaced by `ins`; a copy into a temporary is
    inlined into its readers (normalizing would otherwise name it, or the expression it
    copies, as a variable v1)."""
    program = _with_instr(program, index, ins)
    if ins.op != "copy" or not is_temp(ins.dst):
        return program
    program = _redirect(program, ins.dst, index + 1, ins.args[0], index)
    if _reads(program, ins.dst, index + 1):
        return program
    return replace(program, body=program.body[:index] + program.body[index + 1:])


# ---------------------------------------------------------------------------------- the rules

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
            result = None if new is None else accept(program, _replaced(program, i, new), LIMITS)
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
    return _copy(ins, _short_constant(value)) if abs(value) <= _FLOAT32_MAX else None


def _copy_propagate(program: Program) -> Program | None:
    """Apply of copy_propagate (it edits the readers, not the copy)."""
    for i, ins in enumerate(program.body):
        if ins.op != "copy":
            continue
        value = ins.args[0]
        if value == ins.dst:
            candidate = replace(program, body=program.body[:i] + program.body[i + 1:])
        else:
            candidate = _redirect(program, ins.dst, i + 1, value, i)
        result = accept(program, candidate, LIMITS)
        if result is not None:
            return result
    return None


def _commuted(ins: Instr, op: str, constant: float) -> Arg | None:
    """x if `ins` is op(x, constant) or op(constant, x)."""
    if ins.op != op:
        return None
    x, y = ins.args
    return x if _is_constant(y, constant) else y if _is_constant(x, constant) else None


def _mul_one(p: Program, i: int) -> Instr | None:
    x = _commuted(p.body[i], "mul", 1.0)
    return None if x is None else _copy(p.body[i], x)


def _mul_minus_one(p: Program, i: int) -> Instr | None:
    x = _commuted(p.body[i], "mul", -1.0)
    return None if x is None else Instr(p.body[i].dst, "neg", (x,))


def _mul_zero(p: Program, i: int) -> Instr | None:
    x = _commuted(p.body[i], "mul", 0.0)
    return None if x is None or not _is_finite(p, i, x) else _copy(p.body[i], 0.0)


def _add_zero(p: Program, i: int) -> Instr | None:
    ins = p.body[i]
    x = _commuted(ins, "add", 0.0)
    if ins.op == "sub" and _is_constant(ins.args[1], 0.0):
        x = ins.args[0]
    return None if x is None else _copy(ins, x)


def _zero_minus(p: Program, i: int) -> Instr | None:
    ins = p.body[i]
    if ins.op == "sub" and _is_constant(ins.args[0], 0.0):
        return Instr(ins.dst, "neg", (ins.args[1],))
    return None


def _sub_self(p: Program, i: int) -> Instr | None:
    ins = p.body[i]
    if ins.op == "sub" and ins.args[0] == ins.args[1] and _is_finite(p, i, ins.args[0]):
        return _copy(ins, 0.0)
    return None


def _div_one(p: Program, i: int) -> Instr | None:
    ins = p.body[i]
    return _copy(ins, ins.args[0]) if ins.op == "div" and _is_constant(ins.args[1], 1.0) else None


def _double_neg(p: Program, i: int) -> Instr | None:
    ins = p.body[i]
    inner = _producer(p, i, ins.args[0], {"neg"}) if ins.op == "neg" else None
    if inner is None or not _same_value(p, inner[1].args[0], inner[0], i):
        return None
    return _copy(ins, inner[1].args[0])


def _squared(p: Program, at: int, a: Arg) -> Arg | None:
    """x if the value `a` read at `at` is x * x or square(x), x holding the same value at `at`."""
    found = _producer(p, at, a, {"mul", "square"})
    if found is None:
        return None
    j, ins = found
    x = ins.args[0]
    if (ins.op == "mul" and ins.args[1] != x) or not _same_value(p, x, j, at):
        return None
    return x


def _absolute(p: Program, at: int, a: Arg) -> Arg | None:
    """x if the value `a` read at `at` is abs(x), sqrt(x * x) or sqrt(square(x)), x holding the
    same value at `at`."""
    found = _producer(p, at, a, {"abs", "sqrt"})
    if found is None:
        return None
    j, ins = found
    x = ins.args[0] if ins.op == "abs" else _squared(p, j, ins.args[0])
    return x if x is not None and _same_value(p, x, j, at) else None


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
    if ins.op == "sign" and _producer(p, i, ins.args[0], {"sign"}) is not None:
        return _copy(ins, ins.args[0])
    return None


def _small_weight(a: Arg) -> bool:
    """Whether `a` is a constant interp weight with |a| <= MAX_WEIGHT."""
    return not isinstance(a, str) and abs(a) <= MAX_WEIGHT


def _interp_same(p: Program, i: int) -> Instr | None:
    ins = p.body[i]
    if ins.op == "interp" and ins.args[0] == ins.args[1] and _small_weight(ins.args[2]):
        return _copy(ins, ins.args[0])
    return None


def _interp_zero(p: Program, i: int) -> Instr | None:
    ins = p.body[i]
    if ins.op == "interp" and _is_constant(ins.args[2], 0.0) and _is_finite(p, i, ins.args[1]):
        return _copy(ins, ins.args[0])
    return None


def _interp_one(p: Program, i: int) -> Instr | None:
    ins = p.body[i]
    if ins.op == "interp" and _is_constant(ins.args[2], 1.0) and _is_finite(p, i, ins.args[0]):
        return _copy(ins, ins.args[1])
    return None


def _interp_interp(p: Program, i: int) -> Instr | None:
    ins = p.body[i]
    if ins.op != "interp" or not _small_weight(ins.args[2]):
        return None
    x, y, b = ins.args
    found = _producer(p, i, y, {"interp"})
    if found is None:
        return None
    j, inner = found
    x2, z, a = inner.args
    if x2 != x or not _small_weight(a) or not (_same_value(p, x, j, i) and _same_value(p, z, j, i)):
        return None
    return Instr(ins.dst, "interp", (x, z, _short_constant(a * b)))


def _zero_slot(program: Program) -> Program | None:
    """Apply of zero_slot: a slot that no instruction writes and that returns itself."""
    end = len(program.body)
    for k, slot in enumerate(program.memory):
        if program.outputs[1 + k] != slot or _definition(program, end, slot) is not None:
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


# ------------------------------------------------------------------------------------- ablation

class AblationStep(NamedTuple):
    """One ablation candidate: what was changed, its fitness, and whether it was kept."""

    description: str
    fitness: float
    kept: bool


def is_calibration(program: Program, index: int) -> bool:
    """Whether instruction `index` is the leading `lr = c * lr` of lr calibration."""
    return index == 0 and bool(program.body) and program.body[0].dst == "lr" \
        and program.body[0].op == "mul" and program.body[0].args[1] == "lr" \
        and not isinstance(program.body[0].args[0], str)


def round_values(x: float) -> list[float]:
    """Rounder values to try in place of x, roundest first: x to 1 and to 2 significant digits,
    or, for 0.5 <= |x| <= 1.5, 1 - x to 1 and 2 significant digits (0.899 -> 0.9,
    0.996991 -> 0.997, 1.109 -> 1.1, 1.11)."""
    magnitude = abs(x)
    values = []
    for digits in (1, 2):
        if 0.5 <= magnitude <= 1.5:
            rounded = 1.0 - round_significant(1.0 - magnitude, digits)
        else:
            rounded = round_significant(magnitude, digits)
        rounded = math.copysign(round_significant(rounded, 12), x)
        if rounded != x and rounded not in values:
            values.append(rounded)
    return values


def _text(a: Arg) -> str:
    return a if isinstance(a, str) else format_constant(a)


def _drop(program: Program, index: int) -> tuple[str, Program] | None:
    """The program without instruction `index`: its readers read one of its name arguments, else
    the value it overwrote, else one of its constant arguments (the first that is valid)."""
    ins = program.body[index]
    names = [a for a in dict.fromkeys(ins.args) if isinstance(a, str)]
    overwritten = [ins.dst] if ins.dst in INPUTS + program.memory \
        or _definition(program, index, ins.dst) is not None else []
    constants = [a for a in ins.args if not isinstance(a, str)]
    for value in names + overwritten + constants:
        candidate = _replaced(program, index, _copy(ins, value))
        if check(candidate, LIMITS) is None:
            return f"drop {describe(ins)} (read {_text(value)} instead)", candidate
    return None


def rounding_candidates(program: Program) -> list[tuple[str, Program]]:
    """(description, valid edited program, not yet rewritten) for rounding each constant (in
    instructions, then outputs) to each of its `round_values`."""
    out = []
    end = len(program.body)
    sites = [(i, ins.args) for i, ins in enumerate(program.body)] + [(end, program.outputs)]
    for i, args in sites:
        for j, c in enumerate(args):
            if isinstance(c, str):
                continue
            where = describe(program.body[i]) if i < end else f"output {j}"
            for value in round_values(c):
                new = args[:j] + (value,) + args[j + 1:]
                edited = replace(program, outputs=new) if i == end else \
                    _with_instr(program, i, replace(program.body[i], args=new))
                if check(edited, LIMITS) is None:
                    out.append((f"round {format_constant(c)} -> {format_constant(value)} in "
                                f"{where}", edited))
    return out


def drop_candidates(program: Program) -> list[tuple[str, Program]]:
    """(description, valid edited program, not yet rewritten) for dropping each instruction, in
    order, except copies and the calibration `lr = c * lr` (see `_drop`)."""
    drops = [_drop(program, i) for i, ins in enumerate(program.body)
             if ins.op != "copy" and not is_calibration(program, i)]
    return [d for d in drops if d is not None]


def within(fitness: float, base: float, tolerance: float, absolute: bool = False) -> bool:
    """Whether fitness is within `tolerance` of base (lower is better): at most
    base + tolerance * |base|, or with `absolute` (a fitness that is a log ratio, where
    +0.01 is about 1% more loss) at most base + tolerance."""
    slack = tolerance if absolute else tolerance * abs(base)
    return math.isfinite(fitness) and fitness <= base + slack


def ablate(program: Program, score: Callable[[Program], float], tolerance: float = 0.01,
           absolute: bool = False) -> tuple[Program, list[AblationStep]]:
    """Drop instructions, then round constants, while the score stays within `tolerance` of the
    program's own (lower is better; see `within`). With base = score(program), the first
    candidate (of `drop_candidates`, then of `rounding_candidates`) not tried yet (by
    description) is rewritten and scored, and kept (it becomes the program) when its score is
    within tolerance of base. A program whose own score is not finite is returned as it is."""
    base = score(program)
    steps: list[AblationStep] = []
    if not math.isfinite(base):
        return program, steps
    current, tried = program, set()
    for candidates in (drop_candidates, rounding_candidates):
        while True:
            untried = [c for c in candidates(current) if c[0] not in tried]
            if not untried:
                break
            description, edited = untried[0]
            tried.add(description)
            candidate = rewrite(edited)[0]
            if candidate == current:
                continue
            fitness = score(candidate)
            kept = within(fitness, base, tolerance, absolute)
            steps.append(AblationStep(description, fitness, kept))
            if kept:
                current = candidate
    return current, steps


# ------------------------------------------------------------------------------------- simplify

class SimplifyReport(NamedTuple):
    """What `simplify` did: the program before and after, the rules applied, the ablation steps,
    and the fitness before and after (None without a score)."""

    before: Program
    after: Program
    rules: list[str]
    steps: list[AblationStep]
    fitness_before: float | None
    fitness_after: float | None


def _memoized(score: Callable[[Program], float]) -> Callable[[Program], float]:
    """score, computed once per distinct program."""
    cache: dict[Program, float] = {}

    def memo(program: Program) -> float:
        if program not in cache:
            cache[program] = score(program)
        return cache[program]
    return memo


def simplify(program: Program, score: Callable[[Program], float] | None = None,
             tolerance: float = 0.01, absolute: bool = False) -> SimplifyReport:
    """Dead-code removal and rewriting to a fixed point; then, given a score (fitness, lower is
    better), ablation within `tolerance` (see `within`) and another rewrite. With a score, the
    result's fitness is within tolerance of the program's own: where the rewritten program's
    is not (rewrites are exact up to float rounding, which training can amplify), the result
    is the first of (ablated, rewritten only, the program itself) that is."""
    after, rules = rewrite(program)
    if score is None:
        return SimplifyReport(program, after, rules, [], None, None)
    score = _memoized(score)
    fitness_before = score(program)
    ablated, steps = ablate(after, score, tolerance, absolute)
    ablated, more = rewrite(ablated)
    for result, applied in ((ablated, rules + more), (after, rules), (program, [])):
        if result == program or within(score(result), fitness_before, tolerance, absolute):
            break
    return SimplifyReport(program, result, applied, steps, fitness_before, score(result))


def simplify_in_run(store: RunStore, program_id: int, tolerance: float = 0.01,
                    ablation: bool = True) -> tuple[SimplifyReport, int]:
    """Simplify program `program_id` of a run, scored as the run scores: on its tasks, schedule
    and training seeds, against its reference losses (a portfolio's fitness is a log ratio, so
    the tolerance is then absolute; see `within`). The result is journaled as a program of
    origin 'simplified' (parent: `program_id`) with its fitness as an evaluation of kind
    'simplified'; returns the report and the new program's id."""
    from lion_search.config import EvolveConfig
    from lion_search.dedup import DedupCache
    from lion_search.language import parse_program
    from lion_search.portfolio import PortfolioEvaluator

    config = EvolveConfig.from_json(store.config)
    references = store.value("references")
    evaluator = PortfolioEvaluator(config.tasks, config.schedule, config.seeds,
                                   [r["fitness"] for r in references] if references else None)
    score = None if not ablation else (lambda p: evaluator.evaluate(p).fitness)
    report = simplify(parse_program(store.program(program_id).text), score, tolerance,
                      absolute=evaluator.relative)
    kept = sum(s.kept for s in report.steps)
    pid = store.add_program(str(report.after), DedupCache().keys(report.after), program_id,
                            f"simplified: {', '.join(dict.fromkeys(report.rules)) or 'no rule'};"
                            f" {kept} ablation step(s) kept", "simplified")
    if report.fitness_after is not None:
        store.add_evaluation(pid, "simplified", report.fitness_after,
                             "ok" if math.isfinite(report.fitness_after) else "diverged", False,
                             config.task, config.seeds, 0.0, "simplify")
    return report, pid


def _heading(label: str, program: Program, fitness: float | None) -> str:
    scored = "not scored" if fitness is None else f"fitness {fitness:.6g}"
    return (f"{label}: {len(program)} instructions, memory cost {format_cost(memory_cost(program))}, {scored}")


def format_report(report: SimplifyReport) -> str:
    """The report as plain text: each program with its size, memory cost and fitness, the dead
    code of the program before, the rules applied (repeats counted) and each ablation step
    with its fitness and outcome."""
    before = report.before
    dead = "; ".join(describe(before.body[i]) for i in sorted(dead_instructions(before)))
    slots = ", ".join(sorted(dead_slots(before)))
    rules = ", ".join(name if n == 1 else f"{name} x{n}"
                      for name, n in ((k, len(list(g))) for k, g in groupby(report.rules)))
    lines = [_heading("before", before, report.fitness_before), print_program(before),
             _heading("after", report.after, report.fitness_after), print_program(report.after),
             f"dead code: {dead or 'none'}" + (f" (and memory slots {slots})" if slots else ""),
             f"rules applied: {rules or 'none'}"]
    if report.steps:
        lines.append("ablation:")
        lines += [f"  {'kept    ' if s.kept else 'rejected'}  {s.fitness:<10.6g}  {s.description}"
                  for s in report.steps]
    return "\n".join(lines) + "\n"
