"""The pieces an export's generated code is made of, whatever writes it: how a framework spells
what differs (`Dialect`), code text with its precedence and kind (`Text`), the op helpers'
source (read from the ops module's file, never imported), and small text utilities."""
from __future__ import annotations

import ast
import functools
import importlib.util
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

TERNARY, OR, AND, NOT, CMP, ADD, MUL, UNARY, POW, ATOM = range(10)  # Python's precedence
HELPER_NAMES = {"pow": "power"}  # a helper named otherwise than its op (pow is a builtin)
OP_HELPERS = frozenset({"div", "mod", "pow", "log", "log1p", "finite", "row_mean", "col_mean",
                        "orthogonalize", "global_mean", "global_rms", "global_norm"})
# Every name a helper may take: a program's variables stay clear of them.
HELPERS = frozenset(HELPER_NAMES.get(h, h) for h in OP_HELPERS)


@dataclass(frozen=True)
class Dialect:
    """What differs between the frameworks: the array module's name, its spelling of a few
    functions, how it writes a zero slot and a Python number as an array, and the module whose
    `op_*` functions (and their helpers) an export copies (read as text, never imported)."""

    np: str
    ops: str
    maximum: str
    minimum: str
    clip: str
    zeros: dict  # a slot's Shape (None: not stored) -> its zeros on tensor {w}
    wrap: str  # a Python number {x} as an array, for a function that takes arrays only
    fill: str  # a Python number {x} as an array of tensor {w}'s shape
    numbers: bool  # whether its functions take Python numbers (jnp's do, torch's do not)
    compare: dict  # a comparison's function (jnp.less, torch.lt, ...)
    truthy: bool  # whether its `where` takes any condition (jnp's does; torch's: booleans)

    def name(self, op: str) -> str:
        return HELPER_NAMES.get(op, op)


@dataclass(frozen=True)
class Text:
    """Code: its text, its precedence, and whether its value is a Python number when run
    (True), an array (False) or either, by the static branch the tensor takes (None)."""

    text: str
    prec: int
    python: bool | None

    def at(self, prec: int) -> str:
        """The text, parenthesized where it binds looser than `prec`."""
        return f"({self.text})" if self.prec < prec else self.text



def branch_kind(flags: list) -> bool | None:
    """The kind of a value that is of one of these kinds, by the branch taken."""
    return flags[0] if all(f is flags[0] for f in flags) else None


def combined_kind(*flags: bool | None) -> bool | None:
    """Whether a value computed from values of these kinds is a Python number (see `Text`)."""
    if all(f is True for f in flags):
        return True
    return False if any(f is False for f in flags) else None


@functools.lru_cache(maxsize=None)
def module_functions(module: str) -> dict[str, tuple[str, frozenset[str]]]:
    """The top-level functions of a module of the package, by name: (source, the names it
    reads), read from its file (the module is not imported)."""
    text = Path(importlib.util.find_spec(module).origin).read_text()
    return {node.name: (ast.get_source_segment(text, node), frozenset(
        n.id for n in ast.walk(node) if isinstance(n, ast.Name)))
        for node in ast.parse(text).body if isinstance(node, ast.FunctionDef)}


def docstring_lines(text: str, indent: str, width: int = 96) -> list[str]:
    """A docstring wrapped at `width`, at `indent`."""
    lines = textwrap.wrap(f'"""{text}"""', width - len(indent))
    return [indent + line for line in lines]


def rename_helpers(source: str) -> str:
    """An ops module's function source with each `op_x` named as the export calls it."""
    return re.sub(r"\bop_(\w+)\b", lambda m: HELPER_NAMES.get(m.group(1), m.group(1)), source)


def drop_unread(lines: list[str]) -> list[str]:
    """The lines without the unconditional assignments that no later line reads (a static
    condition that its guards wrote out in full)."""
    for i, line in enumerate(lines):
        match = re.match(r"(\w+) = ", line)
        if match and not any(re.search(rf"\b{match.group(1)}\b", later)
                             for later in lines[i + 1:]):
            return drop_unread(lines[:i] + lines[i + 1:])
    return lines
