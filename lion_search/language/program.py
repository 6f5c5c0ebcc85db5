"""The program language's IR and its printer (IR -> text); the parser (text -> IR) is `parser`.

A program is text in a small subset of Python syntax, and is only ever parsed (with `ast` and a
whitelist), never run by Python:

    def lion(w, g, lr, t, m):
        c = interp(g, m, 0.9)
        m = interp(g, m, 0.99)
        return lr * (sign(c) + 0.001 * w), m

`w, g, lr, t` are the weights, the gradient, the learning rate and the step (from 1); every
further parameter is a memory slot that starts at zero. The program returns the update (the
optimizer then sets w <- w - update) and the new value of each memory slot, in order. The names
`rank`, `fan_in`, `fan_out` (of each parameter tensor) and `T` (the total number of steps) are
read without being declared. The return may end with `eval_at(x)`: the weights to evaluate the
model at (Schedule-Free's average, Lookahead's slow weights), computed from the values on entry
to a step (w, memory, t, never g or lr; `validate` checks it).

The IR is a straight-line list of single-op instructions `dst = op(a, b, c)` whose arguments are
variable names or float constants. Nested expressions are lowered into temporaries named `_1`,
`_2`, ... (names starting with `_` are reserved for them), numbered in post-order; the printer
folds each single-use temporary back into the expression that uses it, so that
parse(print(p)) == p for every parsed program."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Union

from lion_search.language.ops import OPS, Shape

Arg = Union[str, float]
INPUTS: tuple[str, ...] = ("w", "g", "lr", "t")
# Inputs a program reads without declaring them: per-tensor shape facts and the total steps.
SHAPE_INPUTS: tuple[str, ...] = ("rank", "fan_in", "fan_out", "T")
ALL_INPUTS: tuple[str, ...] = INPUTS + SHAPE_INPUTS
INPUT_SHAPES: dict[str, Shape] = {"w": Shape.TENSOR, "g": Shape.TENSOR, "lr": Shape.SCALAR,
                                  "t": Shape.SCALAR, "rank": Shape.PER_TENSOR,
                                  "fan_in": Shape.PER_TENSOR, "fan_out": Shape.PER_TENSOR,
                                  "T": Shape.SCALAR}
EVAL_MARK = "eval_at"  # return ..., eval_at(x): the evaluation weights
# The step count of an exported optimizer's state, the shape inputs and the evaluation mark.
RESERVED_NAMES = frozenset({"count", EVAL_MARK}) | frozenset(SHAPE_INPUTS)


@dataclass(frozen=True)
class Instr:
    """One instruction: `dst = op(*args)`; an arg is a variable name (str) or a constant (float)."""

    dst: str
    op: str
    args: tuple[Arg, ...]


@dataclass(frozen=True)
class Program:
    """An optimizer program: `def name(w, g, lr, t, *memory): body; return outputs`.

    `outputs` is (update, new value of each memory slot[, evaluation weights]).
    """

    name: str
    memory: tuple[str, ...]
    body: tuple[Instr, ...]
    outputs: tuple[Arg, ...]
    doc: str = field(default="", compare=False)

    @property
    def slots(self) -> int:
        """The number of memory slots (their real memory cost is `shapes.memory_cost`)."""
        return len(self.memory)

    @property
    def has_eval(self) -> bool:
        """Whether the program returns evaluation weights after its memory values."""
        return len(self.outputs) == len(self.memory) + 2

    def with_eval(self, outputs: tuple[Arg, ...]) -> tuple[Arg, ...]:
        """`outputs` (update and memory values) followed by this program's evaluation weights."""
        return outputs + self.outputs[len(self.memory) + 1:]

    def __len__(self) -> int:
        return len(self.body)

    def __str__(self) -> str:
        return print_program(self)


def is_temp(name: str) -> bool:
    """Whether `name` is a parser temporary (`_1`, `_2`, ...)."""
    return name.startswith("_")


# ---------------------------------------------------------------------------------- printing

# Operator precedence, as Python's grammar has it; higher binds tighter.
_PREC_CMP, _PREC_ADD, _PREC_MUL, _PREC_UNARY, _PREC_POW, _PREC_ATOM = 1, 2, 3, 4, 5, 6
_BINARY_PREC = {"add": _PREC_ADD, "sub": _PREC_ADD, "mul": _PREC_MUL, "div": _PREC_MUL,
                "mod": _PREC_MUL, "pow": _PREC_POW,
                **{op: _PREC_CMP for op in ("lt", "le", "gt", "ge", "eq", "ne")}}


def format_constant(x: float) -> str:
    """The shortest text that parses back to exactly x: 1 for 1.0, 1e-8 for 1e-08."""
    text = repr(float(x))
    if text.endswith(".0") and abs(x) < 1e16:
        text = text[:-2]
    return text.replace("e-0", "e-").replace("e+", "e")


def folded_temporaries(program: Program) -> dict[str, int]:
    """Temporaries the printer folds into their one use: {temp: index of its instruction}
    (also what an exported module's generated code folds).

    A temporary folds when it is defined once, used exactly once, later, and nothing between its
    definition and the statement it is printed in reassigns a variable it reads.
    """
    defs: dict[str, list[int]] = {}
    for i, ins in enumerate(program.body):
        defs.setdefault(ins.dst, []).append(i)
    uses: dict[str, list[int]] = {}
    sites = [(i, ins.args) for i, ins in enumerate(program.body)]
    sites.append((len(program.body), program.outputs))
    for i, args in sites:
        for a in args:
            if isinstance(a, str):
                uses.setdefault(a, []).append(i)
    writes = [ins.dst for ins in program.body]
    folded: dict[str, int] = {}

    def try_fold(temp: Arg, user: int, root: int) -> None:
        if not (isinstance(temp, str) and is_temp(temp)) or len(defs.get(temp, [])) != 1:
            return
        index = defs[temp][0]
        ins = program.body[index]
        if uses.get(temp) != [user] or index >= user or ins.op == "copy":
            return
        later = set(writes[index + 1:root])
        if any(isinstance(a, str) and a in later for a in ins.args):
            return
        folded[temp] = index
        for a in ins.args:
            try_fold(a, index, root)

    for i in range(len(program.body), -1, -1):
        if i == len(program.body) or program.body[i].dst not in folded:
            for a in (program.outputs if i == len(program.body) else program.body[i].args):
                try_fold(a, i, i)
    return folded


def temporary_names(program: Program, folded: dict[str, int]) -> dict[str, str]:
    """Fresh printable names (v1, v2, ...) for the temporaries that are not `folded`."""
    taken = set(ALL_INPUTS) | set(program.memory) | {i.dst for i in program.body}
    names: dict[str, str] = {}
    counter = 0
    for ins in program.body:
        if is_temp(ins.dst) and ins.dst not in folded and ins.dst not in names:
            counter += 1
            while f"v{counter}" in taken:
                counter += 1
            names[ins.dst] = f"v{counter}"
    return names


class _Printer:
    def __init__(self, program: Program):
        self.program = program
        self.folded = folded_temporaries(program)
        self.names = temporary_names(program, self.folded)

    def arg(self, a: Arg) -> tuple[str, int]:
        """(text, precedence) of an argument."""
        if not isinstance(a, str):
            return format_constant(a), _PREC_UNARY if math.copysign(1.0, a) < 0 else _PREC_ATOM
        if a in self.folded:
            return self.instruction(self.program.body[self.folded[a]])
        return self.names.get(a, a), _PREC_ATOM

    def instruction(self, ins: Instr) -> tuple[str, int]:
        """(text, precedence) of the expression computed by `ins`."""
        args = [self.arg(a) for a in ins.args]
        if ins.op == "copy":
            return args[0]
        if ins.op in _BINARY_PREC:
            prec = _BINARY_PREC[ins.op]
            (left, lp), (right, rp) = args
            if prec == _PREC_POW:       # right-associative
                left_paren, right_paren = lp <= prec, rp < prec
            elif prec == _PREC_CMP:     # comparisons must not chain
                left_paren, right_paren = lp <= prec, rp <= prec
            else:                       # left-associative
                left_paren, right_paren = lp < prec, rp <= prec
            left = f"({left})" if left_paren else left
            right = f"({right})" if right_paren else right
            return f"{left} {OPS[ins.op].symbol} {right}", prec
        if ins.op == "neg" and isinstance(ins.args[0], str):
            (text, prec), = args
            return f"-({text})" if prec <= _PREC_UNARY else f"-{text}", _PREC_UNARY
        return f"{ins.op}({', '.join(text for text, _ in args)})", _PREC_ATOM


def expression_text(program: Program, arg: Arg) -> str:
    """`arg` of `program` as its printed text writes it: a temporary as its folded
    expression, another name as printed, a constant as in program text."""
    return _Printer(program).arg(arg)[0]


def instruction_text(program: Program, index: int) -> str:
    """The expression instruction `index` of `program` computes, as its printed text writes it
    (its temporary arguments folded)."""
    return _Printer(program).instruction(program.body[index])[0]


def print_program(program: Program) -> str:
    """Readable program text; single-use temporaries are folded back into expressions."""
    printer = _Printer(program)
    params = ", ".join(INPUTS + program.memory)
    lines = [f"def {program.name}({params}):"]
    if program.doc:
        lines.append(f"    {program.doc!r}")
    for ins in program.body:
        if ins.dst in printer.folded:
            continue
        text, _ = printer.instruction(ins)
        lines.append(f"    {printer.names.get(ins.dst, ins.dst)} = {text}")
    outputs = [printer.arg(a)[0] for a in program.outputs]
    if program.has_eval:
        outputs[-1] = f"{EVAL_MARK}({outputs[-1]})"
    lines.append(f"    return {', '.join(outputs)}")
    return "\n".join(lines) + "\n"

