"""A program as plain data, and its plan: what it computes and stores for each parameter tensor.

A tensor's rank, fan_in and fan_out (its *facts*, `tensor_facts`) are known before the first
step, and so is every value computed from them and constants alone by elementwise ops: a
*static* value. `make_plan` evaluates the static values once per tensor, at init (partial
evaluation), and derives for each tensor:

* the branch of each `where` whose condition is static there: where(c, a, b) is a there when
  c != 0, else b, and the other argument is not read there;
* the live instructions: backward from the update and the evaluation weights, across steps
  through the memory slots whose value on entry a live instruction reads, a static `where`
  reading its branch alone. A global reduction (global_mean, ...) live on one tensor reads its
  argument on every tensor;
* the `Shape` of each memory slot: the least fixed point of the join of its writes under the
  ops' shape rules (`result_shape`), from SCALAR, a static `where` having its branch's shape.
  Where a slot is not live it is not stored: its shape is None, a zero-size placeholder.

So Muon's second moment, read only on the branch that tensors of rank != 2 take, is stored for
them alone, and Adafactor stores row and column statistics for the matrices it factors and a
full second moment for the other tensors. `execute` runs a program by its plan: on each tensor,
its live instructions alone.

The module is pure Python: the optax and torch runtimes run programs through `execute`, and an
exported optimizer carries copies of these functions (its own ops evaluate the static values).
"""
import functools
from collections.abc import Callable
from enum import Enum, IntEnum
from typing import Any, NamedTuple


class Shape(IntEnum):
    """What a value varies over: one number for all parameters (SCALAR: lr, t, T, constants,
    global reductions), per tensor (PER_TENSOR: rank, fan_in, fan_out, per-tensor reductions),
    per row (ROW: row_mean) or column (COL: col_mean) of each matrix, or per entry (TENSOR).
    A lattice, SCALAR < PER_TENSOR < ROW, COL < TENSOR with ROW v COL = TENSOR; for tensors of
    rank < 2 a ROW or COL value is as large as the tensor."""

    SCALAR = 0
    PER_TENSOR = 1
    ROW = 2
    COL = 3
    TENSOR = 4


class Kind(str, Enum):
    """How an op is applied to the parameter tensors."""

    ELEMENTWISE = "elementwise"      # fn(*arrays), leaf by leaf
    TENSOR_REDUCE = "tensor_reduce"  # fn(array) -> 0-d, leaf by leaf
    AXIS_REDUCE = "axis_reduce"      # fn(array) -> array reduced along one axis, leaf by leaf
    MATRIX = "matrix"                # fn(array) -> array of its shape, leaf by leaf
    GLOBAL_REDUCE = "global_reduce"  # fn(list of arrays) -> 0-d, over all leaves


class Mode(IntEnum):
    """What an instruction does on one tensor, by the plan."""

    DEAD = -1   # nothing: no live instruction or output reads its value there
    RUN = 0     # computes its op
    TAKE_A = 1  # is its argument 1: where(c, a, b) with c static and != 0 there
    TAKE_B = 2  # is its argument 2: the same with c == 0


class Code(NamedTuple):
    """A program as plain data. `inputs`: (name, Shape) of each input in order (w, g, lr, t,
    rank, fan_in, fan_out, T); `facts`: the inputs that are a tensor's `tensor_facts`;
    `memory`: the slots' names; `body`: (dst, op, args) of each instruction, an argument being
    a name or a float; `outputs`: the update, the new value of each slot[, the evaluation
    weights]; `ops`: (name, Kind, Shape of the axis of an axis reduction, else TENSOR) of each
    op used."""

    inputs: tuple
    facts: tuple
    memory: tuple
    body: tuple
    outputs: tuple
    ops: tuple


class Plan(NamedTuple):
    """A program's plan for a list of tensors: `modes[j][i]`, the Mode of instruction j on
    tensor i; `slots[k][i]`, the Shape of memory slot k on tensor i, None where it is not
    stored."""

    modes: tuple
    slots: tuple


def join(*shapes: Shape) -> Shape:
    """The least upper bound: the shape a value broadcast from all of `shapes` has."""
    top = max(shapes, default=Shape.SCALAR)
    if top == Shape.COL and Shape.ROW in shapes:
        return Shape.TENSOR
    return top


def result_shape(kind: Kind, axis: Shape, args: list) -> Shape:
    """The shape rule: the Shape of the result of an op of `kind` (reducing to `axis`, ROW or
    COL, for an axis reduction) given its arguments' Shapes."""
    if kind == Kind.TENSOR_REDUCE:
        return Shape.PER_TENSOR  # even of a scalar: norm(lr) = |lr| sqrt(n) grows with n
    if kind == Kind.GLOBAL_REDUCE:
        return Shape.SCALAR
    if kind == Kind.AXIS_REDUCE:  # the mean of a value constant along the axis is itself
        return args[0] if args[0] <= Shape.PER_TENSOR else axis
    if kind == Kind.MATRIX:
        return Shape.TENSOR
    return join(*args)


def tensor_facts(shape: tuple) -> tuple:
    """(rank, fan_in, fan_out) of a tensor of `shape`: its rank, shape[-2] (1 below rank 2) and
    shape[-1] (1 for rank 0)."""
    return len(shape), shape[-2] if len(shape) >= 2 else 1, shape[-1] if shape else 1


def stored_shape(shape: Any, leaf: tuple) -> tuple:
    """The array shape at which a memory slot of Shape `shape` is stored for a parameter of
    shape `leaf`: (0,) when it is not stored (None), () for a scalar (also per tensor),
    leaf[:-1] + (1,) for a row value and leaf[:-2] + (1, leaf[-1]) for a column value of rank
    >= 2, else `leaf`."""
    if shape is None:
        return (0,)
    if shape <= Shape.PER_TENSOR:
        return ()
    if len(leaf) >= 2 and shape == Shape.ROW:
        return tuple(leaf[:-1]) + (1,)
    if len(leaf) >= 2 and shape == Shape.COL:
        return tuple(leaf[:-2]) + (1, leaf[-1])
    return tuple(leaf)


def deciding(code: Code) -> list:
    """For each instruction: whether its value reaches the condition of a where (the only
    static values a plan needs), backward within the step."""
    wanted, reaches = set(), []
    for dst, op, args in reversed(code.body):
        reaches.append(dst in wanted)
        if reaches[-1]:
            wanted.discard(dst)
            wanted.update(a for a in args if isinstance(a, str))
        if op == "where" and isinstance(args[0], str):
            wanted.add(args[0])
    return reaches[::-1]


def static_values(code: Code, facts: tuple, evaluate: Callable, wanted: list) -> tuple:
    """For a tensor of `facts`: (modes, values). modes: the Mode of each instruction if the
    program ran on it whole, TAKE_A or TAKE_B for a where whose condition is static there, else
    RUN. values: each instruction's static value there, None where it is not static or not
    `wanted` (by instruction). Static values are `evaluate(op, values)`: floats in, a float
    out, with the op's own float32 semantics."""
    kinds = {name: kind for name, kind, _ in code.ops}
    known = dict(zip(code.facts, facts))
    modes, computed = [], []
    for (dst, op, args), needed in zip(code.body, wanted):
        values = [known.get(a) if isinstance(a, str) else a for a in args]
        mode, value = Mode.RUN, None
        if op == "where" and values[0] is not None:
            mode = Mode.TAKE_A if values[0] != 0 else Mode.TAKE_B
            value = values[mode]
        elif needed and kinds[op] == Kind.ELEMENTWISE and None not in values:
            value = evaluate(op, values)
        known[dst] = value
        modes.append(mode)
        computed.append(value)
    return modes, computed


def static_branches(code: Code, facts: tuple, evaluate: Callable) -> list:
    """For a tensor of `facts`: the modes of `static_values`, computing only the static values
    that decide a where (every instruction RUN in a program without one)."""
    if all(op != "where" for _, op, _ in code.body):
        return [Mode.RUN] * len(code.body)
    return static_values(code, facts, evaluate, deciding(code))[0]


def live_sets(code: Code, branches: list) -> tuple:
    """(live[j][c]: whether instruction j is live on tensor c, stored[c]: the indices of the
    slots live on tensor c), given each tensor's `static_branches`: backward liveness from the
    update and the evaluation weights, to a fixed point over the slots whose value on entry a
    live instruction reads."""
    kinds = {name: kind for name, kind, _ in code.ops}
    ends = [code.outputs[0]] + ([code.outputs[-1]] if len(code.outputs) > len(code.memory) + 1
                                else [])
    stored = [frozenset()] * len(branches)
    while True:
        needed = [{a for a in ends + [code.outputs[1 + k] for k in slots] if isinstance(a, str)}
                  for slots in stored]
        live = []
        for j in reversed(range(len(code.body))):
            dst, op, args = code.body[j]
            here = [dst in names for names in needed]
            if kinds[op] == Kind.GLOBAL_REDUCE and any(here):
                here = [True] * len(needed)
            for names, modes, on in zip(needed, branches, here):
                if on:
                    names.discard(dst)
                    reads = args if modes[j] == Mode.RUN else (args[modes[j]],)
                    names.update(a for a in reads if isinstance(a, str))
            live.append(here)
        grown = [slots | {k for k, slot in enumerate(code.memory) if slot in names}
                 for slots, names in zip(stored, needed)]
        if grown == stored:
            return live[::-1], stored
        stored = grown


def stored_slot_shapes(code: Code, modes: list, stored: frozenset) -> tuple:
    """The Shape of each memory slot on one tensor, given the Mode of each instruction there
    (DEAD included) and the slots stored there; None for the others."""
    rules = {name: (kind, axis) for name, kind, axis in code.ops}
    shapes = [Shape.SCALAR] * len(code.memory)

    def shape(env, a):
        return env[a] if isinstance(a, str) else Shape.SCALAR

    while True:
        env = dict(code.inputs) | dict(zip(code.memory, shapes))
        for (dst, op, args), mode in zip(code.body, modes):
            if mode > 0:
                env[dst] = shape(env, args[mode])
            elif mode == Mode.RUN:
                env[dst] = result_shape(*rules[op], [shape(env, a) for a in args])
        grown = [join(s, shape(env, code.outputs[1 + k])) if k in stored else s
                 for k, s in enumerate(shapes)]
        if grown == shapes:
            return tuple(s if k in stored else None for k, s in enumerate(shapes))
        shapes = grown


def make_plan(code: Code, facts: list, evaluate: Callable) -> Plan:
    """The Plan of `code` for tensors of these `facts` (one (rank, fan_in, fan_out) each),
    static values computed by `evaluate(op, values)`. Tensors whose static wheres take the
    same branches share a plan (a program without any: one for all)."""
    return make_plans(code, [facts], evaluate)[0]


def make_plans(code: Code, facts_lists: list, evaluate: Callable) -> list[Plan]:
    """`make_plan` for each list of tensor facts in `facts_lists`, the work shared: each
    distinct tensor's static branches are computed once, and lists whose tensors take the same
    branch patterns share one liveness and one slot fixed point."""
    branches: dict[tuple, tuple] = {}
    for facts in facts_lists:
        for f in map(tuple, facts):
            if f not in branches:
                branches[f] = tuple(static_branches(code, f, evaluate))
    by_patterns: dict[tuple, tuple] = {}
    plans = []
    for facts in facts_lists:
        patterns = tuple(dict.fromkeys(branches[tuple(f)] for f in facts))
        if patterns not in by_patterns:
            live, stored = live_sets(code, list(patterns))
            modes = [[m if on[c] else Mode.DEAD for m, on in zip(patterns[c], live)]
                     for c in range(len(patterns))]
            by_patterns[patterns] = modes, [stored_slot_shapes(code, modes[c], stored[c])
                                            for c in range(len(patterns))]
        modes, shapes = by_patterns[patterns]
        index = [patterns.index(branches[tuple(f)]) for f in facts]
        plans.append(Plan(tuple(tuple(modes[c][j] for c in index) for j in range(len(code.body))),
                          tuple(tuple(shapes[c][k] for c in index)
                                for k in range(len(code.memory)))))
    return plans


def planner(code: Code, evaluate: Callable) -> Callable:
    """plan(shapes): the Plan of `code` for leaves of these shapes (a tuple of tuples), computed
    once per shapes, static values by `evaluate(op, values)`."""
    return functools.lru_cache(maxsize=None)(
        lambda shapes: make_plan(code, [tensor_facts(s) for s in shapes], evaluate))


def execute(code: Code, functions: dict, plan: Plan, values: tuple, like: list,
            apply: Callable) -> tuple:
    """Run `code` once by its `plan`: `values` are the inputs' and then the slots' (each a list
    of leaves or a scalar shared by all leaves), `like` the params' leaves, and
    `apply(kind, fn, args, modes, like)` gives an instruction's value. Returns the outputs; a
    value is None on the leaves where it is dead."""
    kinds = {name: kind for name, kind, _ in code.ops}
    env = dict(zip([name for name, _ in code.inputs] + list(code.memory), values))
    for (dst, op, args), modes in zip(code.body, plan.modes):
        env[dst] = apply(kinds[op], functions[op],
                         [env[a] if isinstance(a, str) else a for a in args], modes, like)
    return tuple(env[a] if isinstance(a, str) else a for a in code.outputs)
