"""Programs as optax optimizers: `to_optax` in-process, and standalone modules on disk.

`to_optax` runs a program through the runtime (`language.runtime`, by the program's per-tensor
plan). A standalone module (`optax_source`) is generated code instead: its `update_fn` is the
program, one line per statement over each tensor (`listing`, `writer`), a GradientTransformation
with a NamedTuple state as optax writes its own optimizers, needing only jax and optax. The two
agree step by step (tests/test_export.py).
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable, NamedTuple

import optax

from lion_search.export import header
from lion_search.export.assembly import camel, module_functions_lines, step_name
from lion_search.export.listing import Function, Listing, build
from lion_search.export.source import HELPERS, Dialect, docstring_lines
from lion_search.export.writer import Writer
from lion_search.language import plan, runtime
from lion_search.language.direct import run_program
from lion_search.language.errors import LionSearchError
from lion_search.language.ops import functions
from lion_search.language.plan import Shape
from lion_search.language.program import Program
from lion_search.language.shapes import code_of


@functools.lru_cache(maxsize=None)
def state_type(name: str, memory: tuple[str, ...]) -> type:
    """The NamedTuple of an optimizer's state: `count` and one field per memory slot."""
    camel = "".join(part.capitalize() for part in name.split("_")) or "Program"
    return NamedTuple(f"{camel}State", [("count", Any)] + [(m, Any) for m in memory])


def reads_total_steps(program: Program) -> bool:
    """Whether the program reads T, the total number of steps."""
    return any(a == "T" for ins in program.body for a in ins.args) or "T" in program.outputs


def _check_total_steps(program: Program, total_steps: int | None) -> None:
    if total_steps is None and reads_total_steps(program):
        raise LionSearchError(f"program {program.name!r} reads T, the total number of steps: "
                              "pass total_steps=")


def program_planner(program: Program) -> Callable[[tuple], plan.Plan]:
    """plan_for(leaf shapes): the program's plan for params of those shapes (`plan.planner`, with
    the runtime's ops evaluating the static values)."""
    return plan.planner(code_of(program), functools.partial(runtime.static_value, functions()))


def to_optax(program: Program, learning_rate: float | optax.Schedule,
             total_steps: int | None = None) -> optax.GradientTransformation:
    """`program` as an optax GradientTransformation; `learning_rate` (a float or an optax
    schedule of the step count) is fed to the program as `lr`, t = count + 1, and T =
    `total_steps` (required when the program reads T). Memory slots are stored at their shape
    on each tensor, by the program's plan for the params (nothing where a slot is not needed)."""
    _check_total_steps(program, total_steps)
    return runtime.gradient_transformation(
        functools.partial(run_program, program), state_type(program.name, program.memory),
        learning_rate, program_planner(program), total_steps)


def eval_params(program: Program, state: Any, params: Any, total_steps: int | None = None) -> Any:
    """The weights to evaluate the model at, from an optimizer state of `to_optax(program)` and
    the current params: the program's evaluation weights (`eval_at`), else the params."""
    if not program.has_eval:
        return params
    _check_total_steps(program, total_steps)
    return runtime.evaluation_params(functools.partial(run_program, program),
                                     program_planner(program),
                                     state, params, total_steps)


# ------------------------------------------------------------------- standalone module source

JAX = Dialect(np="jnp", ops="lion_search.language.runtime", maximum="maximum",
              minimum="minimum", clip="clip", zeros={
                  None: "jnp.zeros(0, {w}.dtype)", Shape.SCALAR: "jnp.zeros([], {w}.dtype)",
                  Shape.PER_TENSOR: "jnp.zeros([], {w}.dtype)",
                  Shape.ROW: "jnp.zeros_like(row_mean({w}))",
                  Shape.COL: "jnp.zeros_like(col_mean({w}))", Shape.TENSOR: "jnp.zeros_like({w})"},
              wrap="{x}", fill="jnp.broadcast_to({x}, {w}.shape)", numbers=True,
              truthy=True, compare={"lt": "less", "le": "less_equal", "gt": "greater",
                                    "ge": "greater_equal", "eq": "equal", "ne": "not_equal"})
# Names the generated code uses: a program's variables are kept clear of them.
RESERVED = frozenset({"jax", "jnp", "optax", "math", "Any", "Callable", "NamedTuple", "w0",
                      "min", "max", "abs", "float", "l", "O", "I"}) | HELPERS
MODULE_NAMES = RESERVED | {"PROGRAM", "optimizer", "eval_params", "leafwise"}

LEAFWISE = '''def leafwise(fn: Callable, params: Any, *trees: Any, narrow: bool = True) -> tuple:
    """fn(w, *leaves) on each tensor, in float32 or wider: a pytree per value it returns."""
    def leaf(w, *xs):
        wide = jnp.promote_types(w.dtype, jnp.float32)
        out = fn(w.astype(wide), *(x.astype(wide) for x in xs))
        return tuple(jnp.asarray(y, w.dtype if narrow else wide) for y in out)
    return jax.tree.transpose(jax.tree.structure(params), None, jax.tree.map(leaf, params, *trees))
'''


def leafwise_call(listing: Listing, function: Function, gradients: str, lr: str) -> str:
    """`leafwise(lambda ...: function(...), params, gradients, *state[1:])`."""
    inner = f"w, g, {lr}, t" + (", T" if listing.reads("T") else "")
    params = "".join(f", {p}" for p in function.params[len(listing.code.memory):])
    return (f"leafwise(lambda w, g, *slots: {function.name}({inner}, *slots{params}),\n"
            f"params, {gradients}, *state[1:]")


def run_lines(listing: Listing, gradients: str, lr: str) -> tuple[list[str], str]:
    """(the lines of the global passes, the call of the step), inside update_fn or
    eval_params."""
    lines, ops = [], {name: listing.code.body[j][1] for j, name in listing.global_params.items()}
    for function in listing.functions[:-1]:
        lines.append(f"args = {leafwise_call(listing, function, gradients, lr)}, narrow=False)")
        for i, param in enumerate(function.returns):
            lines.append(f"{param} = {ops[param]}(jax.tree.leaves(args[{i}]))")
    return lines, leafwise_call(listing, listing.step, gradients, lr) + ")"


ZERO_TREES = {Shape.TENSOR: ("full", "jax.tree.map(jnp.zeros_like, params)")} | {
    shape: (name, f"jax.tree.map(lambda w: {JAX.zeros[shape].format(w='w')}, params)")
    for shape, name in ((Shape.SCALAR, "scalar"), (Shape.PER_TENSOR, "scalar"),
                        (Shape.ROW, "rows"), (Shape.COL, "columns"), (None, "empty"))}


def init_lines(listing: Listing, state: str) -> list[str]:
    """init_fn's body: the zero slots, by the slots function where their shapes depend on
    static conditions, else one pytree per shape they take."""
    count = "jnp.zeros([], jnp.int32)"
    if listing.slots_function is not None:
        return [f"slots = jax.tree.map({listing.slots_function.name}, params)",
                f"return {state}({count}, *jax.tree.transpose(jax.tree.structure(params), None,"
                "\nslots))"]
    shapes = listing.slot_shapes[0]
    if len(set(shapes)) == 1 and len(shapes) == 1:
        return [f"return {state}({count}, {ZERO_TREES[shapes[0]][1]})"]
    lines = [f"{name} = {tree}" for name, tree in dict(ZERO_TREES[s] for s in shapes).items()]
    return lines + [f"return {state}({count}" + "".join(f", {ZERO_TREES[s][0]}" for s in shapes)
                    + ")"]


def optimizer_lines(listing: Listing, state: str, context: bool) -> list[str]:
    """`optimizer(learning_rate, total_steps=None)`: init_fn and update_fn."""
    reads_t = listing.reads("T")
    total = ("the T the program reads (required)" if reads_t else
             "unused (the T of programs that read it)")
    lines = ["def optimizer(learning_rate: Any, total_steps: Any = None) -> "
             "optax.GradientTransformation:"] + docstring_lines(
        f"{listing.program.name} as an optax GradientTransformation; learning_rate: a float "
        f"or an optax schedule of the step count; total_steps: {total}.", "    ")
    if reads_t:
        lines += ["    if total_steps is None:",
                  '        raise ValueError("this optimizer reads T, the total number of steps: '
                  'pass total_steps=")']
    init = init_lines(listing, state)
    passes, call = run_lines(listing, "updates", "lr")
    evaluation = ", _" if listing.program.has_eval else ""
    update = ["lr = learning_rate(state.count) if callable(learning_rate) else learning_rate",
              "lr, t = jnp.asarray(lr, jnp.float32), (state.count + 1).astype(jnp.float32)"]
    update += ["T = jnp.float32(total_steps)"] * reads_t + passes
    update += [f"update, *slots{evaluation} = {call}",
               f"return jax.tree.map(jnp.negative, update), {state}(state.count + 1, *slots)"]
    lines += ["", "    def init_fn(params):"] + indented(init, 2, context)
    lines += ["", "    def update_fn(updates, state, params=None):"] + indented(update, 2, context)
    return lines + ["", "    return optax.GradientTransformation(init_fn, update_fn)"]


def eval_lines(listing: Listing, context: bool) -> list[str]:
    """`eval_params(state, params, total_steps=None)`, for a program with evaluation weights."""
    passes, call = run_lines(listing, "zeros", "0.0")
    body = ["t = (state.count + 1).astype(jnp.float32)",
            "zeros = jax.tree.map(jnp.zeros_like, params)"]
    body += ["T = jnp.float32(total_steps)"] * listing.reads("T") + passes
    body += [f"return {call}[-1]"]
    return ["def eval_params(state: Any, params: Any, total_steps: Any = None) -> Any:"] + \
        docstring_lines("The weights to evaluate the model at (the program's eval_at), from the "
                        "optimizer state and the params, as on entry to the next step (g = 0, "
                        "lr = 0).", "    ") + indented(body, 1, context)


def indented(lines: list[str], level: int, context: bool) -> list[str]:
    """`lines` at `level` indents, under `with jax.ensure_compile_time_eval():` if `context`;
    a line's continuations (after a newline) line up after its first parenthesis."""
    if context:
        lines = ["with jax.ensure_compile_time_eval():  # static conditions, at trace time"] + [
            "    " + line for line in lines]
    pad, out = "    " * level, []
    for line in lines:
        first, *rest = line.split("\n")
        out.append(pad + first)
        out += [pad + " " * (first.index("(") + 1) + more for more in rest]
    return out


def optax_source(program: Program, learning_rate: float = header.DEFAULT_LR_ADVICE[0],
                 why: str = header.DEFAULT_LR_ADVICE[1], warning: str | None = None,
                 path: str = "my_opt.py") -> str:
    """A standalone Python module (jax + optax only) defining `optimizer(learning_rate,
    total_steps=None)` (and `eval_params` for a program with evaluation weights): generated
    code whose update is the program, its text in PROGRAM (for `load_program`), and a docstring
    that says how it relates to the seeds, its memory cost, the suggested `learning_rate`
    (saying `why`) and the lr check's `warning` if any."""
    state = camel(program.name, MODULE_NAMES) + "State"
    listing = build(program, RESERVED, step_name(program, MODULE_NAMES | {state}))
    writer = Writer(listing, JAX)
    writer.helpers.update(listing.code.body[j][1] for j in listing.global_params)
    functions = module_functions_lines(listing, writer)
    optimizer = optimizer_lines(listing, state, writer.needs_context)
    evaluation = eval_lines(listing, writer.needs_context) if program.has_eval else []
    helpers = writer.helper_source()
    names = listing.names
    fields = ["    count: jax.Array"] + [f"    {names[m]}: Any" for m in listing.code.memory]
    usage = [f"Usage: tx = optimizer(learning_rate={learning_rate:.3g}"
             + (", total_steps=T" if listing.reads("T") else "") + ");"]
    parts = [header.docstring(listing.program, "an optax GradientTransformation", usage,
                              learning_rate, why, warning, path)
             + ["import math"] * writer.math
             + ["from collections.abc import Callable", "from typing import Any, NamedTuple", "",
                "import jax",
                "import jax.numpy as jnp", "import optax", ""] + header.program_text(
                    listing.program),
             [f"class {state}(NamedTuple):",
              '    """The step count, and each memory slot as a pytree like the params."""', ""]
             + fields]
    parts += [h.splitlines() for h in helpers] + functions + [optimizer]
    parts += [evaluation] if evaluation else []
    parts.append(LEAFWISE.splitlines())
    return "\n\n\n".join("\n".join(part) for part in parts) + "\n"


def write_optax_module(program: Program, path: str | Path,
                       advice: tuple[float, str] = header.DEFAULT_LR_ADVICE,
                       render: Callable[..., str] | None = None) -> Path:
    """Write `render(program, ...)` (default `optax_source`) to `path` (a .py file),
    suggesting the learning rate of `advice` (value, why), with the lr check's warning where
    the program fails it; returns the path."""
    from lion_search.analysis.lr_check import lr_warning

    path = Path(path)
    if path.suffix != ".py":
        raise LionSearchError(f"export target {str(path)!r} must be a .py file")
    render = render or optax_source
    try:
        path.write_text(render(program, *advice, lr_warning(program), path.name))
    except OSError as err:
        raise LionSearchError(f"cannot write {str(path)!r}: {err.strerror}") from None
    return path
