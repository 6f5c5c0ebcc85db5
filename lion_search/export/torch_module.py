"""Programs as standalone PyTorch optimizers: `lion-search export PROGRAM --framework torch`.

The module written is generated code, as the optax one is (`optax_module`): the program's
per-tensor functions (`listing`, `writer`, in torch: helpers from `torch_ops`), and a
`torch.optim.Optimizer` subclass named after the program whose `step` runs them on each
parameter with a gradient (the global reductions' arguments first, over all of them). Its state
per parameter is `step` and one tensor per memory slot, at the slot's shape there and in the
parameter's dtype; it needs only torch. Writing it does not import torch.
"""
from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

from lion_search.export import header
from lion_search.export import optax_module as export
from lion_search.export.assembly import camel, module_functions_lines, step_name
from lion_search.export.listing import Listing, build
from lion_search.export.source import HELPERS, Dialect, docstring_lines
from lion_search.export.writer import Writer
from lion_search.language.errors import LionSearchError
from lion_search.language.plan import Shape
from lion_search.language.program import Program

TORCH = Dialect(np="torch", ops="lion_search.export.torch_ops", maximum="maximum",
                minimum="minimum", clip="clamp", zeros={
                    None: "{w}.new_zeros(0)", Shape.SCALAR: "{w}.new_zeros(())",
                    Shape.PER_TENSOR: "{w}.new_zeros(())",
                    Shape.ROW: "torch.zeros_like(row_mean({w}))",
                    Shape.COL: "torch.zeros_like(col_mean({w}))",
                    Shape.TENSOR: "torch.zeros_like({w})"},
                wrap="torch.as_tensor({x}, dtype={w}.dtype, device={w}.device)",
                fill="torch.full_like({w}, {x})", numbers=False,
                truthy=False, compare={op: op for op in ("lt", "le", "gt", "ge", "eq", "ne")})
RESERVED = frozenset({"torch", "math", "contextlib", "w0", "min", "max", "abs", "float", "l",
                      "O", "I"}) | HELPERS
MODULE_NAMES = RESERVED | {"PROGRAM"}

EVALUATING = '''    @contextlib.contextmanager
    def evaluating(self):
        """Within `with optimizer.evaluating():` the parameters hold eval_params(); they are
        restored exactly on exit."""
        params = [w for group in self.param_groups for w in group["params"]]
        weights, saved = self.eval_params(), [w.detach().clone() for w in params]
        with torch.no_grad():
            for w, x in zip(params, weights):
                w.copy_(x)
        try:
            yield self
        finally:
            with torch.no_grad():
                for w, x in zip(params, saved):
                    w.copy_(x)'''


def needs_torch() -> None:
    """A one-line error where torch is not installed (a torch export is of no use then)."""
    if importlib.util.find_spec("torch") is None:
        raise LionSearchError("--framework torch needs PyTorch, which is not installed: "
                              "pip install 'lion-search[torch]'")


def slot_keys(program: Program) -> tuple[str, ...]:
    """The state key of each memory slot: the slot's name, `step` being the step count's
    key."""
    keys, taken = [], {"step"}
    for name in program.memory:
        while name in taken:
            name += "_"
        taken.add(name)
        keys.append(name)
    return tuple(keys)


def optimizer_class(program: Program) -> str:
    """The name of the optimizer class the exported module of `program` defines."""
    return camel(program.name, MODULE_NAMES)


def passes_lines(listing: Listing, inputs: str) -> list[str]:
    """The global passes over the parameters' `inputs` (a list of each one's step inputs)."""
    lines, ops = [], {name: listing.code.body[j][1] for j, name in listing.global_params.items()}
    for function in listing.functions[:-1]:
        earlier = "".join(f", {p}" for p in function.params[len(listing.code.memory):])
        lines.append(f"args = [{function.name}(*x{earlier}) for x in {inputs}]")
        lines += [f"{name} = {ops[name]}([a[{i}] for a in args])"
                  for i, name in enumerate(function.returns)]
    return lines


def step_call(listing: Listing, inputs: str) -> str:
    params = "".join(f", {p}" for p in listing.step.params[len(listing.code.memory):])
    return f"{listing.step.name}(*{inputs}{params})"


def method_lines(listing: Listing, keys: tuple[str, ...], learning_rate: float) -> list[str]:
    """__init__, inputs, store and step (and eval_params, evaluating) of the class."""
    program, reads_t = listing.program, listing.reads("T")
    lines = [f"    def __init__(self, params, lr={learning_rate!r}, total_steps=None):"]
    if reads_t:
        lines += ["        if total_steps is None:",
                  '            raise ValueError("this optimizer reads T, the total number of '
                  'steps: pass total_steps=")']
    lines += ['        super().__init__(params, {"lr": lr})',
              "        self.total_steps = total_steps",
              "", "    def inputs(self, w, g, lr):"]
    lines += ['        """The inputs of w\'s next step, in float32 or wider (its state made at the '
              'first)."""']
    quoted = "(" + ", ".join(f'"{k}"' for k in keys) + "," * (len(keys) == 1) + ")"
    if listing.slots_function is not None:
        init = [f"state.update(zip({quoted}, {listing.slots_function.name}(w)), "
                "step=torch.tensor(0.0))"]
    else:
        init = call_lines("state.update(", ["step=torch.tensor(0.0)"] + [
            f"{k}={TORCH.zeros[s].format(w='w')}" for k, s in zip(keys, listing.slot_shapes[0])])
    lines += ["        if g.is_sparse:",
              '            raise RuntimeError("this optimizer does not support sparse gradients")',
              "        state = self.state[w]", "        if not state:"]
    lines += ["            " + line for line in init]
    lines += ["        wide = torch.promote_types(w.dtype, torch.float32)",
              "        lr = torch.tensor(lr, dtype=torch.float32, device=w.device)",
              '        t = (state["step"] + 1).to(w.device)']
    lines += ["        T = torch.tensor(float(self.total_steps), device=w.device)"] * reads_t
    lines += ["        " + line for line in call_lines("return (", [
        "w.to(wide)", "g.to(wide)", "lr", "t"] + ["T"] * reads_t + [
        f'state["{k}"].to(wide)' for k in keys])] + [""]
    lines += ["    def store(self, w, update, *slots):",
              '        """The step count, copies of the new slots (one may be w) in w\'s dtype; '
              'w <- w - update."""', "        state = self.state[w]",
              '        state["step"] += 1']
    if keys:
        lines += [f"        for key, value in zip({quoted}, slots):",
                  "            state[key] = torch.as_tensor(value).to(w.device, w.dtype, "
                  "copy=True)"]
    lines += ["        w.sub_(update.to(w.dtype))"]
    lines += ["", "    @torch.no_grad()", "    def step(self, closure=None):",
              '        """One step of every parameter with a gradient; closure re-evaluates the '
              'model and',
              '        returns the loss."""', "        loss = None",
              "        if closure is not None:",
              "            with torch.enable_grad():", "                loss = closure()"]
    if listing.functions[:-1]:
        lines += ['        params = [(w, group["lr"]) for group in self.param_groups for w in '
                  'group["params"]',
                  "                  if w.grad is not None]",
                  "        inputs = [self.inputs(w, w.grad, lr) for w, lr in params]"]
        lines += ["        " + line for line in passes_lines(listing, "inputs")]
        lines += ["        for (w, _), x in zip(params, inputs):",
                  f"            self.store(w, *{step_call(listing, 'x')})"]
    else:
        lines += ["        for group in self.param_groups:",
                  '            for w in group["params"]:',
                  "                if w.grad is not None:",
                  "                    x = self.inputs(w, w.grad, group[\"lr\"])",
                  f"                    self.store(w, *{step_call(listing, 'x')})"]
    lines += ["        return loss"]
    if program.has_eval:
        lines += ["", "    @torch.no_grad()", "    def eval_params(self):"]
        lines += docstring_lines("The weights to evaluate the model at (the program's eval_at), "
                                 "one tensor per parameter in param_groups order, from each one's "
                                 "state on entry to its next step (g = 0, lr = 0).", "        ")
        lines += ['        params = [w for group in self.param_groups for w in group["params"]]',
                  "        inputs = [self.inputs(w, torch.zeros_like(w), 0.0) for w in params]"]
        lines += ["        " + line for line in passes_lines(listing, "inputs")]
        lines += [f"        return [{step_call(listing, 'x')}[-1].to(w.dtype, copy=True)"
                  " for w, x in "
                  "zip(params, inputs)]", ""] + EVALUATING.splitlines()
    return lines


def call_lines(opening: str, items: list[str], width: int = 84) -> list[str]:
    """`opening` + the items, comma-separated, closed, wrapped at `width` under the first."""
    return textwrap.wrap(opening + ", ".join(items) + ")", width, break_long_words=False,
                         subsequent_indent=" " * len(opening))


def torch_source(program: Program, learning_rate: float = header.DEFAULT_LR_ADVICE[0],
                 why: str = header.DEFAULT_LR_ADVICE[1], warning: str | None = None,
                 path: str = "my_opt.py") -> str:
    """A standalone Python module (torch only) defining the optimizer class named after the
    program: generated code whose step is the program, its text in PROGRAM (for
    `load_program`), and a docstring as the optax module's (`header.docstring`)."""
    cls = optimizer_class(program)
    listing = build(program, RESERVED | {cls}, step_name(program, MODULE_NAMES | {cls}))
    writer = Writer(listing, TORCH)
    writer.helpers.update(listing.code.body[j][1] for j in listing.global_params)
    functions = module_functions_lines(listing, writer)
    keys = slot_keys(listing.program)
    reads_t = ", total_steps=T" if listing.reads("T") else ""
    usage = ["Usage:", f"    from {Path(path).stem} import {cls}",
             f"    optimizer = {cls}(model.parameters(), lr={learning_rate:.3g}{reads_t})",
             "    loss.backward(); optimizer.step(); optimizer.zero_grad()"]
    if program.has_eval:
        usage += ["    with optimizer.evaluating():  # the parameters hold the evaluation weights",
                  "        evaluate(model)"]
    usage += textwrap.wrap("Param groups, torch's lr schedulers and state_dict() work as for any "
                           "torch optimizer; it computes in float32 or wider and keeps the state "
                           "in each parameter's dtype.", header.WIDTH) + [""]
    total = ("the T the program reads (required)" if reads_t else
             "unused (the T of programs that read it)")
    doc = docstring_lines(f"{listing.program.name} as a torch optimizer: {cls}(params, "
                          f"lr={learning_rate:.3g}, total_steps=None); total_steps: {total}. "
                          f"State per parameter: step, and {', '.join(keys) or 'no slot'} at "
                          "their shapes on it.", "    ")
    head = header.docstring(listing.program, "a torch.optim.Optimizer", usage, learning_rate,
                            why, warning, path)
    imports = ["import contextlib"] * program.has_eval + ["import math"] * writer.math + [
        "", "import torch"]
    parts = [head + (imports if imports[0] else imports[1:]) + [""]
             + header.program_text(listing.program)]
    parts += [h.splitlines() for h in writer.helper_source()] + functions
    parts.append([f"class {cls}(torch.optim.Optimizer):"] + doc + [""]
                 + method_lines(listing, keys, learning_rate))
    return "\n\n\n".join("\n".join(part) for part in parts) + "\n"


def write_torch_module(program: Program, path: str | Path,
                       advice: tuple[float, str] = header.DEFAULT_LR_ADVICE) -> Path:
    """Write `torch_source(program)` to `path` (a .py file), as `optax_module` writes its own;
    a one-line error where torch is not installed."""
    needs_torch()
    return export.write_optax_module(program, path, advice, render=torch_source)
