"""The named hyperparameters of a program: what a tuner searches besides the learning rate.

A seed names its hyperparameters in its file, in comment lines that the parser reads (never
runs) beside the program:

    # hyperparameters: b1 = 0.9, b2 = 0.999, eps = 1e-8, weight_decay = 0.0001
    # derived: 0.1 = 1 - b1

A declared name stands for every constant of the program equal to its value (AdamW's b1 is the
0.9 of its momentum and of its bias correction 1 - 0.9 ** t), so the values a file declares are
distinct and each occurs in the program. A derived constant is a formula of the declared names
(+ - * / **, sqrt; numbers), recomputed when they change (NAdam's 0.1 = 1 - b1). Without a
declaration (any program that is not a seed, or a file without the lines), the hyperparameters
are the program's numeric literals, one per place, named c1, c2, ... in the order of the IR;
the calibration's leading `lr = c * lr` (`lr_scale`) is the learning rate's and is left out.

Each hyperparameter has a search scale, chosen from its value c:

    0.5 <= c < 1   DECAY    searched on log(1 - c)   (a decay near 1: 0.9, 0.999 ...)
    c > 0 else     LOG      searched on log(c)       (a positive scale: eps, weight decay ...)
    c <= 0         LINEAR   searched on c
"""
from __future__ import annotations

import ast
import math
import re
from collections.abc import Mapping
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import NamedTuple

from lion_search.language.edits import round_significant, statements
from lion_search.language.errors import ProgramError
from lion_search.language.library import (
    SEEDS_DIR,
    exported_program_text,
    read_program,
    seed_names,
)
from lion_search.language.lr_scale import unscale_lr
from lion_search.language.program import Arg, Program, format_constant, print_program

DECLARATION = "hyperparameters"   # `# hyperparameters: b1 = 0.9, ...`
DERIVED = "derived"               # `# derived: 0.1 = 1 - b1`
_LINE = re.compile(rf"^\s*#\s*({DECLARATION}|{DERIVED})\s*:(.*)$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
DERIVED_DIGITS = 12  # significant digits a recomputed derived constant is written with
_FORMULA_OPS = {ast.Add: float.__add__, ast.Sub: float.__sub__, ast.Mult: float.__mul__,
                ast.Div: float.__truediv__, ast.Pow: float.__pow__}
_FORMULA_ALLOWED = "numbers, declared names, + - * / ** and sqrt(...)"


class Scale(Enum):
    """How a tuner searches a hyperparameter (see the module's docstring)."""

    DECAY = "log(1 - c)"
    LOG = "log(c)"
    LINEAR = "c"


def scale_of(value: float) -> Scale:
    """The search scale of a constant with this value."""
    if 0.5 <= value < 1:
        return Scale.DECAY
    return Scale.LOG if value > 0 else Scale.LINEAR


class Site(NamedTuple):
    """Where a constant sits: `program.body[index].args[position]`, or `outputs[position]` when
    `index == len(program.body)`."""

    index: int
    position: int


class Hyperparameter(NamedTuple):
    """A named constant of a program: its value, the places it sits and its search scale."""

    name: str
    value: float
    sites: tuple[Site, ...]
    scale: Scale
    where: str   # the printed statement of its first place

    def to_search(self, value: float) -> float:
        """`value` on the search scale: log(1 - value), log(value) or value."""
        if self.scale is Scale.DECAY:
            return math.log1p(-value)
        return math.log(value) if self.scale is Scale.LOG else value

    def from_search(self, x: float) -> float:
        """The value at `x` on the search scale (the inverse of `to_search`)."""
        if self.scale is Scale.DECAY:
            return -math.expm1(x)
        return math.exp(x) if self.scale is Scale.LOG else x

    def search_range(self, decades: float = 1.0) -> tuple[float, float]:
        """(low, high) values around this one: 1 - c or c divided and multiplied by
        10 ** decades (1 - c at most 1), or c -+ decades * max(|c|, 1) on the linear scale."""
        if self.scale is Scale.DECAY:
            gap = 1 - self.value
            return 1 - min(1.0, gap * 10 ** decades), 1 - gap / 10 ** decades
        if self.scale is Scale.LOG:
            return self.value / 10 ** decades, self.value * 10 ** decades
        width = decades * max(abs(self.value), 1.0)
        return self.value - width, self.value + width


class Derived(NamedTuple):
    """A constant computed from the declared names: `value = formula`."""

    value: float
    formula: str


class Declaration(NamedTuple):
    """A program file's declared hyperparameters ({name: value}, in order) and derived
    constants."""

    names: dict[str, float]
    derived: tuple[Derived, ...] = ()

    def label(self, value: float) -> str | None:
        """The declared name of a constant with this value, or its derived formula, or None."""
        named = [n for n, v in self.names.items() if v == value]
        formulas = [d.formula for d in self.derived if d.value == value]
        return (named + formulas + [None])[0]


NO_DECLARATION = Declaration({})


# ------------------------------------------------------------------------------ declarations

def parse_declaration(text: str, source: str = "<program>") -> Declaration:
    """The `# hyperparameters:` and `# derived:` lines of a program file's text (empty without
    them); names a line and what is wrong with it otherwise."""
    names: dict[str, float] = {}
    derived: list[Derived] = []
    for number, line in enumerate(text.splitlines(), 1):
        match = _LINE.match(line)
        if not match:
            continue
        where = f"{source}:{number}"
        for item in filter(None, (part.strip() for part in match[2].split(","))):
            left, sep, right = (x.strip() for x in item.partition("="))
            if not sep:
                raise ProgramError(f"{where}: {item!r} is not `name = value`; a {match[1]} line "
                                   "lists name = value pairs separated by commas")
            if match[1] == DECLARATION:
                _declare(names, left, right, where)
            else:
                value = _number(left, where)
                computed = evaluate_formula(right, names, where)
                if not math.isclose(computed, value, rel_tol=1e-6, abs_tol=1e-12):
                    raise ProgramError(f"{where}: derived {left} = {right} gives {computed!r}")
                derived.append(Derived(value, right))
    values = list(names.values()) + [d.value for d in derived]
    if len(set(values)) != len(values):
        raise ProgramError(f"{source}: two hyperparameters share a value; each declared or "
                           "derived value must be distinct (a name stands for its value)")
    return Declaration(names, tuple(derived))


def _declare(names: dict[str, float], name: str, text: str, where: str) -> None:
    if not _NAME.match(name) or name in names:
        raise ProgramError(f"{where}: {name!r} is not a new name (letters, digits and _, "
                           "starting with a letter, each declared once)")
    names[name] = _number(text, where)


def _number(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ProgramError(f"{where}: {text!r} is not a finite number")
    return value


def evaluate_formula(text: str, names: Mapping[str, float], where: str = "<formula>") -> float:
    """The value of a derived constant's formula over the declared names (parsed with `ast`,
    never run; allowed: numbers, declared names, + - * / ** and sqrt)."""
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        raise ProgramError(f"{where}: formula {text!r} is not an expression; allowed: "
                           f"{_FORMULA_ALLOWED}") from None

    def value(node: ast.expr) -> float:
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return float(node.value)
        if isinstance(node, ast.Name) and node.id in names:
            return names[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -value(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _FORMULA_OPS:
            return _FORMULA_OPS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "sqrt" and len(node.args) == 1 and not node.keywords:
            return math.sqrt(value(node.args[0]))
        raise ProgramError(f"{where}: {ast.unparse(node)!r} is not allowed in a formula; "
                           f"allowed: {_FORMULA_ALLOWED} (names: {', '.join(names) or 'none'})")

    try:
        return value(tree)
    except (ArithmeticError, ValueError):
        raise ProgramError(f"{where}: formula {text!r} has no finite value") from None


def read_declaration(path: str | Path) -> Declaration:
    """The declaration in a program file (a module written by `export` declares none)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ProgramError(f"cannot read program file {str(path)!r}: {err.strerror}") from None
    if exported_program_text(data) is not None:
        return NO_DECLARATION
    return parse_declaration(data.decode("utf-8", errors="replace"), str(path))


def seed_declaration(name: str) -> Declaration:
    """The declaration in seed `name`'s file."""
    return read_declaration(SEEDS_DIR / f"{name}.py")


def declaration_of(program: Program) -> Declaration:
    """The declaration that names `program`'s hyperparameters: its seed's, where the program is
    exactly a seed (name and IR), else none."""
    if program.name in seed_names() and read_program(program.name) == program:
        return seed_declaration(program.name)
    return NO_DECLARATION


# ------------------------------------------------------------------------------------ sites

def constant_sites(program: Program) -> list[tuple[Site, float]]:
    """Every constant of the program with its place, in IR order (the outputs last)."""
    rows = [ins.args for ins in program.body] + [program.outputs]
    return [(Site(i, k), float(a)) for i, args in enumerate(rows)
            for k, a in enumerate(args) if not isinstance(a, str)]


def site_text(program: Program, site: Site) -> str:
    """The printed statement a constant sits in (`m = interp(g, m, 0.9)`, `return ...`)."""
    lines = [line.strip() for line in print_program(program).splitlines()[1:]]
    for start, end in statements(program):
        if start <= site.index < end:
            dst = program.body[end - 1].dst
            earlier = sum(1 for s, e in statements(program)
                          if e <= start and program.body[e - 1].dst == dst)
            return [line for line in lines if line.startswith(f"{dst} = ")][earlier]
    return lines[-1]


def hyperparameters(program: Program, declaration: Declaration | None = None
                    ) -> tuple[Hyperparameter, ...]:
    """The program's hyperparameters: those `declaration` names (by default its seed's, see
    `declaration_of`), each with every place its value sits; without one, each numeric literal
    but the calibration's lr scale (c1, c2, ... in IR order). A declared value that no
    constant of the program has is an error."""
    declaration = declaration_of(program) if declaration is None else declaration
    sites = constant_sites(program)
    if declaration.names:
        out = []
        for name, value in declaration.names.items():
            found = tuple(site for site, c in sites if c == value)
            if not found:
                raise ProgramError(f"hyperparameter {name} = {format_constant(value)} is "
                                   f"declared, but no constant of {program.name!r} is "
                                   f"{format_constant(value)}")
            out.append(Hyperparameter(name, value, found, scale_of(value),
                                      site_text(program, found[0])))
        return tuple(out)
    skip = Site(0, 0) if unscale_lr(program)[0] != program else None   # `lr = c * lr`
    literals = [(site, c) for site, c in sites if site != skip]
    return tuple(Hyperparameter(f"c{k}", c, (site,), scale_of(c), site_text(program, site))
                 for k, (site, c) in enumerate(literals, 1))


def substitute(program: Program, values: Mapping[str, float],
               declaration: Declaration | None = None) -> Program:
    """The program with hyperparameters set to `values` ({name: value}; the others keep their
    value), each at every place it sits, and each derived constant recomputed (to
    DERIVED_DIGITS significant digits)."""
    declaration = declaration_of(program) if declaration is None else declaration
    params = {h.name: h for h in hyperparameters(program, declaration)}
    unknown = sorted(set(values) - set(params))
    if unknown:
        raise ProgramError(f"{program.name!r} has no hyperparameter {', '.join(unknown)}; its "
                           f"hyperparameters: {', '.join(params) or 'none'}")
    new: dict[Site, float] = {}
    for name, value in values.items():
        if not math.isfinite(value):
            raise ProgramError(f"hyperparameter {name} = {value!r} is not a finite number")
        new.update((site, float(value)) for site in params[name].sites)
    current = {n: float(values.get(n, h.value)) for n, h in params.items()}
    for derived in declaration.derived:
        value = round_significant(evaluate_formula(derived.formula, current), DERIVED_DIGITS)
        new.update((site, value) for site, c in constant_sites(program) if c == derived.value)
    return set_constants(program, new)


def set_constants(program: Program, values: Mapping[Site, float]) -> Program:
    """The program with the constant at each site replaced by its new value."""
    def row(index: int, args: tuple[Arg, ...]) -> tuple[Arg, ...]:
        return tuple(values.get(Site(index, k), a) for k, a in enumerate(args))

    body = tuple(replace(ins, args=row(i, ins.args)) for i, ins in enumerate(program.body))
    return replace(program, body=body, outputs=row(len(program.body), program.outputs))
