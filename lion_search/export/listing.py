"""A program as the straight-line functions of an exported module, before any framework's syntax.

The statements are the printed program's (`program.folded_temporaries`: each statement one line
of the program text, in its names), in functions that run on one tensor:

* `step`, one step: (update, *new slots[, evaluation weights]);
* a `pass` per level of global reductions, before it: the arguments of the global reductions
  of that level (a global reduction's value is then a parameter of the later functions);
* `slots`, the zero memory slots at their shapes on a tensor, where a slot is not stored whole
  on every tensor.

Static branches. A value computed from a tensor's rank, fan_in and fan_out and constants alone
by elementwise ops is *static* (as in `plan`): a `where` on a static condition takes one branch
per tensor. The listing enumerates the *paths*, the ways the static conditions can go (each a
tuple of literals, condition -> truth), and on each path takes the plan's liveness and slot
shapes (`plan.live_sets`, `plan.stored_slot_shapes`). A statement carries the set of paths on
which it runs, and its expression on each (`Choice` for a static where, written as
`a if c else b`); the writer turns path sets into Python `if`s on the conditions.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple, Union

from lion_search.export.ranges import arg_ranges
from lion_search.language.parser import normalize
from lion_search.language.plan import (
    Code,
    Kind,
    Mode,
    Shape,
    live_sets,
    result_shape,
    stored_slot_shapes,
)
from lion_search.language.program import Arg, Program, folded_temporaries, temporary_names
from lion_search.language.shapes import code_of, evaluate_static

Key = Union[int, str]  # a static condition: the instruction that computes it, or a shape input


@dataclass(frozen=True)
class Name:
    """A variable as the generated code names it; `index` is the instruction whose value it
    holds there (None for an input, a slot on entry or a parameter)."""

    text: str
    index: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Const:
    value: float


@dataclass(frozen=True)
class Apply:
    """Instruction `index`, op `op` of `args`."""

    index: int
    op: str
    args: tuple


@dataclass(frozen=True)
class Choice:
    """Instruction `index`, a where whose condition is static: `args[1] if args[0] else
    args[2]`."""

    index: int
    args: tuple


@dataclass(frozen=True)
class Full:
    """`node`, argument `arg` of instruction `index` (len(body): an output), broadcast to the
    tensor's shape where it may have fewer entries (as per-tensor and global ops see it)."""

    index: int
    arg: int
    node: object


@dataclass(frozen=True)
class Zeros:
    """A zero slot of Shape `shape` on the tensor (None: not stored, a zero-size placeholder)."""

    shape: Shape | None


NOT_STORED = Zeros(None)  # a slot's new value on a tensor that does not store it
Node = Union[Name, Const, Apply, Choice, Full, Zeros]


@dataclass(frozen=True)
class Statement:
    """`target = expression` (target None: the function's return, a tuple of expressions), with
    the expression on each set of paths where it runs: ((paths, expression), ...)."""

    target: str | None
    variants: tuple
    position: int  # the index of its instruction (len(body) for the return)


@dataclass
class Function:
    """A function on one tensor: `name(w, g, lr, t, [T,] *slots, *params)`."""

    name: str
    params: tuple[str, ...]
    statements: list[Statement]
    returns: tuple[str, ...] = ()  # a pass: the global value each returned argument is for


FACT = "fact"  # a static value that depends on a tensor's shape facts (else a constant)


@dataclass
class Path:
    literals: tuple  # ((Key, bool), ...): the static conditions' truth, in program order
    branches: tuple  # per instruction: Mode.RUN, TAKE_A or TAKE_B
    constant: frozenset  # the wheres whose condition is a constant: their branch, alone


@dataclass
class Listing:
    """The analysis of one program for export (see the module's docstring)."""

    program: Program
    code: Code
    paths: list[Path]
    modes: list[tuple]          # per path, per instruction: its Mode by the plan (DEAD too)
    slot_shapes: list[tuple]    # per path, per slot: its Shape, None where not stored
    shapes: list[list]          # per path, per instruction: the Shape of its value
    ranges: list[tuple]         # per instruction (and the outputs last): its args' intervals
    names: dict[str, str]       # program name -> the name the code gives it
    reaching: list[tuple]       # per instruction (and the outputs last): each arg's definition
    global_params: dict[int, str] = field(default_factory=dict)  # reduction -> parameter
    levels: dict[int, int] = field(default_factory=dict)         # reduction -> its pass
    functions: list[Function] = field(default_factory=list)     # passes, then the step
    slots_function: Function | None = None

    @property
    def step(self) -> Function:
        return self.functions[-1]

    def reads(self, name: str) -> bool:
        """Whether the program reads the input `name` (T, rank, ...)."""
        return any(a == name for _, _, args in self.code.body for a in args) or \
            name in self.code.outputs

    def arg_shapes(self, index: int, arg: int, paths: frozenset) -> set:
        """The Shapes argument `arg` of instruction `index` (len(body): the outputs) has on
        `paths`."""
        a = self.code.body[index][2][arg] if index < len(self.code.body) else \
            self.code.outputs[arg]
        if isinstance(a, float):
            return {Shape.SCALAR}
        k = self.reaching[index][arg]
        return {self.shapes[p][k] if k is not None else
                self.slot_shapes[p][self.code.memory.index(a)] if a in self.code.memory
                else dict(self.code.inputs)[a] for p in paths}

    def is_full(self, index: int, arg: int, paths: frozenset) -> bool:
        """Whether that argument has the tensor's full shape on every path of `paths`."""
        return self.arg_shapes(index, arg, paths) == {Shape.TENSOR}


def enumerate_paths(code: Code) -> list[Path]:
    """Every way the static wheres can go (see the module's docstring), as `plan` decides
    them: a where whose condition is static takes branch a where it is != 0, else b, and its
    value is static when that branch is. A condition of constants alone is decided here (by
    the ops' float32 semantics, as the plan evaluates it), with no literal."""
    kinds = {name: kind for name, kind, _ in code.ops}
    partial = [_Walk((), (), frozenset(), (), {})]
    for j, (dst, op, args) in enumerate(code.body):
        grown = []
        for walk in partial:
            found = [walk.value(a, code.facts) for a in args]
            if op == "where" and found[0] is not None:
                key = walk.defs.get(args[0], args[0])
                if found[0] is FACT:
                    decided = dict(walk.literals).get(key)
                    for truth in ((True, False) if decided is None else (decided,)):
                        mode = Mode.TAKE_A if truth else Mode.TAKE_B
                        literal = ((key, truth),) if decided is None else ()
                        grown.append(walk.then(dst, j, mode, found[mode], literal))
                else:
                    mode = Mode.TAKE_A if found[0] != 0 else Mode.TAKE_B
                    grown.append(walk.then(dst, j, mode, found[mode], constant=True))
            elif kinds[op] == Kind.ELEMENTWISE and None not in found:
                value = FACT if FACT in found else evaluate_static(op, found)
                grown.append(walk.then(dst, j, Mode.RUN, value))
            else:
                grown.append(walk.then(dst, j, Mode.RUN, None))
        partial = grown
    return [Path(w.literals, w.branches, w.constant) for w in partial]


class _Walk(NamedTuple):
    """A path as `enumerate_paths` walks it: its literals and branches so far, the wheres a
    constant decides, each value (None if not static, FACT, or a constant) and definitions."""

    literals: tuple
    branches: tuple
    constant: frozenset
    values: tuple
    defs: dict

    def value(self, a: Arg, facts: tuple) -> object:
        if isinstance(a, float):
            return a
        return self.values[self.defs[a]] if a in self.defs else FACT if a in facts else None

    def then(self, dst: str, j: int, mode: Mode, value: object, literal: tuple = (),
             constant: bool = False) -> _Walk:
        return _Walk(self.literals + literal, self.branches + (mode,),
                     self.constant | {j} if constant else self.constant, self.values + (value,),
                     self.defs | {dst: j})


def reaching_definitions(code: Code) -> list[tuple]:
    """For each instruction (and the outputs last), the index of the instruction whose value
    each argument reads (None for a constant, an input or a slot on entry)."""
    defs, out = {}, []
    for j, (dst, _, args) in enumerate(code.body):
        out.append(tuple(defs.get(a) if isinstance(a, str) else None for a in args))
        defs[dst] = j
    out.append(tuple(defs.get(a) if isinstance(a, str) else None for a in code.outputs))
    return out


def path_value_shapes(code: Code, modes: tuple, slots: tuple) -> list:
    """The Shape of each instruction's value on one path (None where it is dead)."""
    rules = {name: (kind, axis) for name, kind, axis in code.ops}
    env = dict(code.inputs) | {m: s or Shape.SCALAR for m, s in zip(code.memory, slots)}
    out = []
    for (dst, op, args), mode in zip(code.body, modes):
        def shape(a: Arg) -> Shape:
            return env[a] if isinstance(a, str) else Shape.SCALAR
        if mode == Mode.DEAD:
            value = None
        elif mode > 0:
            value = shape(args[mode])
        else:
            value = result_shape(*rules[op], [shape(a) for a in args])
        env[dst] = value if value is not None else env.get(dst, Shape.SCALAR)
        out.append(value)
    return out


def code_names(program: Program, reserved: frozenset[str]) -> dict[str, str]:
    """The name the generated code gives each program name: its own, or with `_` appended
    where it would hide a name the code uses (`reserved`: its modules, helpers, builtins)."""
    folded = folded_temporaries(program)
    printed = temporary_names(program, folded)
    names = dict.fromkeys(program.memory) | dict.fromkeys(
        i.dst for i in program.body if i.dst not in folded)
    taken = set(names) | set(printed.values()) | set(reserved)
    out = {}
    for name in names:
        text = printed.get(name, name)
        while text in reserved:
            text += "_"
            while text in taken:
                text += "_"
        out[name] = text
    return out


def build(program: Program, reserved: frozenset[str], step_name: str) -> Listing:
    """The listing of `program` (normalized first, as its printed text reads), its functions
    named after `step_name`, its variables clear of `reserved`."""
    program = normalize(program)
    code = code_of(program)
    paths = enumerate_paths(code)
    live, stored = live_sets(code, [p.branches for p in paths])
    modes = [tuple(m if live[j][c] else Mode.DEAD for j, m in enumerate(p.branches))
             for c, p in enumerate(paths)]
    slot_shapes = [stored_slot_shapes(code, modes[c], stored[c]) for c in range(len(paths))]
    listing = Listing(program, code, paths, modes, slot_shapes,
                      [path_value_shapes(code, modes[c], slot_shapes[c])
                       for c in range(len(paths))],
                      arg_ranges(code), code_names(program, reserved),
                      reaching_definitions(code))
    _globals(listing, reserved)
    _Builder(listing).functions(step_name)
    return listing


def _globals(listing: Listing, reserved: frozenset[str]) -> None:
    """The live global reductions: the pass of each (1 + the most passes its argument waits
    for) and the parameter that holds its value in later functions."""
    code = listing.code
    kinds = {name: kind for name, kind, _ in code.ops}
    level: list[int] = []
    count = 0
    taken = set(listing.names.values()) | set(reserved)
    for j, (dst, op, args) in enumerate(code.body):
        before = max([level[k] for k in listing.reaching[j] if k is not None], default=0)
        is_global = kinds[op] == Kind.GLOBAL_REDUCE and any(
            m[j] != Mode.DEAD for m in listing.modes)
        level.append(before + is_global)
        if is_global:
            count += 1
            name = f"{op}_{count}"
            while name in taken:
                name += "_"
            taken.add(name)
            listing.global_params[j] = name
            listing.levels[j] = level[-1]


class _Builder:
    """Builds the listing's functions: liveness per function and path, then statements."""

    def __init__(self, listing: Listing):
        self.listing = listing
        self.code = listing.code
        self.folded = folded_temporaries(listing.program)
        self.all_paths = frozenset(range(len(listing.paths)))

    def functions(self, step_name: str) -> None:
        listing, code = self.listing, self.code
        passes = max(listing.levels.values(), default=0)
        slot_params = tuple(listing.names[m] for m in code.memory)
        for k in range(1, passes + 1):
            targets = [j for j, level in listing.levels.items() if level == k]
            earlier = tuple(listing.global_params[j] for j, level in listing.levels.items()
                            if level < k)
            name = f"{step_name}_pass{k}" if passes > 1 else f"{step_name}_pass"
            listing.functions.append(self.pass_function(name, targets, slot_params + earlier))
        params = slot_params + tuple(listing.global_params.values())
        listing.functions.append(self.step_function(step_name, params))
        if len(set(listing.slot_shapes)) > 1:  # the shapes depend on static conditions
            listing.slots_function = self.slots_function(f"{step_name}_slots")

    # -------------------------------------------------------------------- liveness

    def live(self, path: int, ends: set[str], targets: dict[int, None] | None = None,
             params: frozenset[int] = frozenset()) -> list[bool]:
        """Per instruction, whether the function computes it on `path`: backward from the
        names `ends` (at the end) and the arguments of the instructions `targets` (at their
        place), a static where reading its condition and its branch, a parameter nothing."""
        branches = self.listing.paths[path].branches
        needed, live = set(ends), [False] * len(self.code.body)
        for j in reversed(range(len(self.code.body))):
            dst, op, args = self.code.body[j]
            if targets is not None and j in targets:
                needed.update(a for a in args[:1] if isinstance(a, str))
                continue
            if dst not in needed:
                continue
            needed.discard(dst)
            live[j] = True
            if j in params:
                continue
            mode = branches[j]
            reads = args if mode == Mode.RUN else (args[mode],) if j in self.listing.paths[
                path].constant else (args[0], args[mode])
            needed.update(a for a in reads if isinstance(a, str))
        return live

    # -------------------------------------------------------------------- expressions

    def node(self, index: int, arg: int, path: int, params: frozenset[int]) -> Node:
        """The expression of argument `arg` of instruction `index` (len(body): the outputs)."""
        args = self.code.body[index][2] if index < len(self.code.body) else self.code.outputs
        a = args[arg]
        if isinstance(a, float):
            return Const(a)
        k = self.listing.reaching[index][arg]
        if a in self.folded and k is not None and self.folded[a] == k:
            return self.instruction(k, path, params)
        if k is not None and k in params:
            return Name(self.listing.global_params[k])
        return Name(self.listing.names.get(a, a), k)

    def instruction(self, j: int, path: int, params: frozenset[int]) -> Node:
        if j in params:
            return Name(self.listing.global_params[j])
        dst, op, args = self.code.body[j]
        mode = self.listing.paths[path].branches[j]
        if j in self.listing.paths[path].constant:  # a constant decides it: its branch
            return self.node(j, mode, path, params)
        children = tuple(self.node(j, i, path, params) for i in range(len(args)))
        if op == "where" and mode != Mode.RUN:
            return Choice(j, children)
        return Apply(j, op, children)

    def statements(self, live: list[list[bool]], params: frozenset[int],
                   extra: dict[int, tuple] | None = None) -> list[Statement]:
        """The statements that run on some path (`live[path][j]`), each with its expression per
        set of paths; `extra` adds an expression per path at an instruction's place (a pass's
        captured arguments)."""
        out = []
        for j, (dst, _, _) in enumerate(self.code.body):
            if dst in self.folded and self.folded[dst] == j:
                continue
            on = [p for p in sorted(self.all_paths) if live[p][j] and j not in params]
            if on:
                out.append(Statement(self.listing.names.get(dst, dst), self.variants(
                    on, lambda p, j=j: self.instruction(j, p, params)), j))
        return out

    @staticmethod
    def variants(paths: list[int], expression: Callable[[int], object]) -> tuple:
        groups: dict = {}
        for p in paths:
            groups.setdefault(expression(p), []).append(p)
        return tuple((frozenset(ps), e) for e, ps in groups.items())

    # -------------------------------------------------------------------- functions

    def output_ends(self, path: int) -> set[str]:
        """The outputs a step needs on `path`: the update, the stored slots' new values and
        the evaluation weights."""
        code, stored = self.code, self.listing.slot_shapes[path]
        wanted = [code.outputs[0]] + [code.outputs[1 + k] for k in range(len(code.memory))
                                      if stored[k] is not None]
        if len(code.outputs) > len(code.memory) + 1:
            wanted.append(code.outputs[-1])
        return {a for a in wanted if isinstance(a, str)}

    def step_function(self, name: str, params: tuple[str, ...]) -> Function:
        code, listing = self.code, self.listing
        param_set = frozenset(listing.global_params)
        live = [self.live(p, self.output_ends(p), params=param_set) for p in
                sorted(self.all_paths)]
        statements = self.statements(live, param_set)
        end = len(code.body)

        def outputs(p: int) -> tuple:
            values = [Full(end, 0, self.node(end, 0, p, param_set))]
            for k, slot in enumerate(code.memory):
                if listing.slot_shapes[p][k] is not None:
                    values.append(self.node(end, 1 + k, p, param_set))
                elif code.outputs[1 + k] == slot and not any(
                        s.target == listing.names[slot] and any(p in ps for ps, _ in s.variants)
                        for s in statements):
                    values.append(Name(listing.names[slot]))
                else:
                    values.append(NOT_STORED)
            if len(code.outputs) > len(code.memory) + 1:
                last = len(code.outputs) - 1
                values.append(Full(end, last, self.node(end, last, p, param_set)))
            return tuple(values)

        statements.append(Statement(None, self.variants(sorted(self.all_paths), outputs), end))
        return Function(name, params, statements)

    def pass_function(self, name: str, targets: list[int], params: tuple[str, ...]) -> Function:
        """The arguments of the global reductions `targets`, each broadcast to the tensor (an
        argument whose names the function reassigns after its place is captured there)."""
        listing, paths = self.listing, sorted(self.all_paths)
        earlier = frozenset(j for j, level in listing.levels.items()
                            if level < listing.levels[targets[0]])
        live = [self.live(p, set(), dict.fromkeys(targets), earlier) for p in paths]
        statements = self.statements(live, earlier)
        values = []
        for j in targets:
            value = self.variants(paths, lambda p, j=j: Full(j, 0, self.node(j, 0, p, earlier)))
            later = {s.target for s in statements if s.position > j}
            if later & {n.text for _, e in value for n in names_in(e)}:
                capture = f"{listing.global_params[j]}_arg"
                at = sum(s.position < j for s in statements)
                statements.insert(at, Statement(capture, value, j))
                value = ((frozenset(paths), Name(capture)),)
            values.append(value)
        statements.append(Statement(None, self.variants(paths, lambda p: tuple(
            next(e for ps, e in value if p in ps) for value in values)), len(self.code.body)))
        return Function(name, params, statements,
                        tuple(listing.global_params[j] for j in targets))

    def slots_function(self, name: str) -> Function:
        """The zero slots on a tensor at their shapes, by the static conditions."""
        code, listing, paths = self.code, self.listing, sorted(self.all_paths)
        wheres = [j for j, (_, op, _) in enumerate(code.body) if op == "where"]
        live = [self.live(p, set(), dict.fromkeys(
            j for j in wheres if listing.paths[p].branches[j] != Mode.RUN)) for p in paths]
        statements = self.statements(live, frozenset())
        statements.append(Statement(None, self.variants(paths, lambda p: tuple(
            Zeros(s) for s in listing.slot_shapes[p])), len(code.body)))
        return Function(name, (), statements)


def names_in(node: object) -> list[Name]:
    """The names an expression (or a tuple of them) reads."""
    if isinstance(node, Name):
        return [node]
    children = node if isinstance(node, tuple) else (node.node,) if isinstance(node, Full) \
        else getattr(node, "args", ())
    return [n for child in children for n in names_in(child)]
