"""The `torch.optim.Optimizer` that runs a program, with the torch ops of `torch_ops`.

This mirrors `runtime` (the jnp semantics): the ops of `torch_ops` (the same safe numerics and
the same per-tensor and global reductions, op by op), the same memory shapes (`stored_shape`),
the same widening to float32 and narrowing back to the parameters' dtype, and the same
per-tensor plan (`plan`: a `where` whose condition is static on a tensor is its branch there,
and a slot is stored only where it is live). Like `runtime` it is self-contained (it imports
only contextlib, math, torch and the pure-Python `plan`): `torch_module` copies the functions
and the class a program needs from here, `torch_ops` and `plan` into a standalone module.

Values inside a program are a *list of leaves* (one tensor per parameter) or a *scalar* (a
Python float constant, or a 0-d tensor). The inputs lr, t and T are given per parameter (a
list of 0-d tensors on each parameter's device), since torch keeps a learning rate per param
group and a step count per parameter; every value means the parameter-shaped tensor it
broadcasts to, exactly as in `runtime`.
"""
import contextlib
import math

import torch

from lion_search.language.plan import Kind, Mode, execute, stored_shape, tensor_facts


def broadcast_leaves(x, like):
    """x (a list of leaves or a scalar) broadcast to the shapes and devices of `like`'s leaves."""
    values = x if isinstance(x, list) else [x] * len(like)
    out = []
    for v, p in zip(values, like):
        v = v.to(p.device) if isinstance(v, torch.Tensor) else \
            torch.full((), float(v), dtype=torch.float32, device=p.device)
        out.append(torch.broadcast_to(v, p.shape))
    return out


def apply(kind, fn, args, modes, like):
    """The value of one instruction, an op `fn` of `kind` on `args` (each a list of leaves or a
    scalar), by the plan's `modes` (one `Mode` per leaf of `like`, the params): None on DEAD
    leaves, argument 1 or 2 as it is on TAKE_A or TAKE_B ones (a where whose condition is
    static there), else the op. Elementwise ops apply leaf by leaf, once when every argument is
    a scalar and the leaves agree; per-tensor ops see their argument broadcast to each leaf's shape (so norm(lr) is
    |lr| * sqrt(n) for a tensor of n entries); global reductions see all leaves."""
    if all(m == Mode.DEAD for m in modes):
        return None
    if kind == Kind.GLOBAL_REDUCE:
        return fn(broadcast_leaves(args[0], like))
    taken = {m for m in modes if m != Mode.DEAD}
    if kind == Kind.ELEMENTWISE and len(taken) == 1 and not any(isinstance(a, list)
                                                                for a in args):
        mode = taken.pop()  # one value for all leaves
        return args[mode] if mode > 0 else fn(*args)
    out = []
    for i, (mode, p) in enumerate(zip(modes, like)):
        xs = [a[i] if isinstance(a, list) else a for a in args]
        if mode == Mode.DEAD:
            out.append(None)
        elif mode > 0:
            out.append(xs[mode])
        elif kind == Kind.ELEMENTWISE:
            out.append(fn(*xs))
        else:
            out.append(fn(broadcast_leaves(xs[0], [p])[0]))
    return out


def shape_inputs(leaves, total_steps):
    """(rank, fan_in, fan_out, T): per leaf, its `tensor_facts` and the total number of steps
    (NaN when unknown), as float32 0-d tensors on the leaf's device."""
    steps = math.nan if total_steps is None else float(total_steps)
    facts = [tensor_facts(tuple(x.shape)) + (steps,) for x in leaves]
    return tuple([torch.full((), float(f[k]), dtype=torch.float32, device=x.device)
                  for f, x in zip(facts, leaves)] for k in range(4))


def static_value(functions, op, values):
    """functions[op] of float32 scalars `values` (0-d tensors on the CPU), as a float."""
    return float(functions[op](*[torch.tensor(v, dtype=torch.float32) for v in values]))


def run(code, functions, w, g, lr, t, *memory, plan, total_steps=None):
    """One step of the program `code` (`plan.Code`, its ops in `functions`) by `plan`, on lists
    of leaves: (update, *new memory values[, evaluation weights]). w gives the shape inputs; T
    is `total_steps` (NaN when None)."""
    values = (w, g, lr, t) + shape_inputs(w, total_steps) + memory
    return execute(code, functions, plan, values, w, apply)


def narrow(value, params, shapes=None):
    """A program value as new tensors of the params' dtypes at `shapes` (default: the params'):
    zeros where the value is dead (None) or the shape has no entries (a slot not stored)."""
    leaves = value if isinstance(value, list) else [value] * len(params)
    shapes = [tuple(p.shape) for p in params] if shapes is None else shapes
    out = []
    for v, s, p in zip(leaves, shapes, params):
        target = torch.zeros(s, dtype=p.dtype, device=p.device)
        if v is not None and 0 not in s and isinstance(v, torch.Tensor):
            target.copy_(v.to(p.device))
        elif v is not None and 0 not in s:
            target.fill_(float(v))
        out.append(target)
    return out


class ProgramOptimizer(torch.optim.Optimizer):
    """A program run as a torch optimizer: each step feeds it w, g, lr (the param group's
    `lr`, read at every step, so torch's lr schedulers work), t (the parameter's step, from 1)
    and T (`total_steps`), computing in at least float32, and sets w <- w - update.

    State per parameter: `step` and one tensor per memory slot (zero at the first step), stored
    at the slot's shape on that parameter by the program's plan for the parameters it steps, in
    the parameter's dtype (zero-size where the plan stores nothing). Per-tensor reductions see
    one parameter; global ones see every parameter of the optimizer (all groups) that has a
    gradient in this step; parameters without a gradient are skipped and their step does not
    advance.
    """

    SLOTS = ()  # the state key of each memory slot
    READS_T = False  # whether the program reads T, so that total_steps is required
    HAS_EVAL = False  # whether the program returns evaluation weights
    LR = 1e-3  # the learning rate when none is given

    @staticmethod
    def program(*args, plan, total_steps=None):
        """One step of the program by its plan, on lists of leaves."""
        raise NotImplementedError

    @staticmethod
    def plan_for(shapes):
        """The program's plan for parameters of these shapes."""
        raise NotImplementedError

    def __init__(self, params, lr=None, total_steps=None):
        lr = self.LR if lr is None else lr
        if total_steps is None and self.READS_T:
            raise ValueError("this optimizer reads T, the total number of steps: "
                             "pass total_steps=")
        super().__init__(params, {"lr": lr})
        self.total_steps = total_steps

    def _slot_shapes(self, params):
        """Per memory slot, the shape it is stored at for each of `params` (stepped together)."""
        plan = self.plan_for(tuple(tuple(p.shape) for p in params))
        return plan, [[stored_shape(s, tuple(p.shape)) for s, p in zip(slot, params)]
                      for slot in plan.slots]

    def _run(self, params, grads, lrs, states):
        """(the slots' stored shapes, the program's outputs for one step from the parameters'
        states); a slot whose stored tensor has another shape (the parameters stepped
        together changed) starts again from zero."""
        kinds = [torch.promote_types(p.dtype, torch.float32) for p in params]

        def widen(tensors):
            return [x.to(dtype=k) for x, k in zip(tensors, kinds)]

        def scalar(x, p):
            return torch.as_tensor(x, dtype=torch.float32).to(p.device)

        plan, shapes = self._slot_shapes(params)
        memory = []
        for key, slot in zip(self.SLOTS, shapes):
            memory.append(widen([s[key] if key in s and tuple(s[key].shape) == shape else
                                 torch.zeros(shape, dtype=p.dtype, device=p.device)
                                 for s, p, shape in zip(states, params, slot)]))
        steps = [s["step"] + 1 if "step" in s else 1.0 for s in states]
        return shapes, self.program(
            widen(params), widen(grads), [scalar(x, p) for x, p in zip(lrs, params)],
            [scalar(x, p) for x, p in zip(steps, params)], *memory, plan=plan,
            total_steps=self.total_steps)

    @torch.no_grad()
    def step(self, closure=None):
        """One optimization step; `closure` re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        params, grads, lrs = [], [], []
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("this optimizer does not support sparse gradients")
                params.append(p)
                grads.append(p.grad)
                lrs.append(group["lr"])
        if not params:
            return loss
        states = [self.state[p] for p in params]
        for state, p in zip(states, params):
            if not state:
                state["step"] = torch.tensor(0.0, dtype=torch.float32)
        shapes, outputs = self._run(params, grads, lrs, states)
        updates = narrow(outputs[0], params)
        memory = [narrow(value, params, slot) for value, slot in zip(outputs[1:], shapes)]
        for i, (p, state) in enumerate(zip(params, states)):
            p.sub_(updates[i])
            state["step"] += 1
            for key, values in zip(self.SLOTS, memory):
                state[key] = values[i]
        return loss

    @torch.no_grad()
    def eval_params(self):
        """The weights to evaluate the model at, one tensor per parameter (in param_groups
        order): the program's evaluation weights, computed from the state on entry to the next
        step (g = 0, lr = 0), or copies of the parameters for a program that has none."""
        params = [p for group in self.param_groups for p in group["params"]]
        if not self.HAS_EVAL:
            return [p.detach().clone() for p in params]
        states = [self.state.get(p, {}) for p in params]
        _, outputs = self._run(params, [torch.zeros_like(p) for p in params],
                               [0.0] * len(params), states)
        return narrow(outputs[-1], params)

    @contextlib.contextmanager
    def evaluating(self):
        """Within `with optimizer.evaluating():` the parameters hold `eval_params()`; they are
        restored exactly on exit."""
        params = [p for group in self.param_groups for p in group["params"]]
        weights = self.eval_params()
        saved = [p.detach().clone() for p in params]
        with torch.no_grad():
            for p, x in zip(params, weights):
                p.copy_(x)
        try:
            yield self
        finally:
            with torch.no_grad():
                for p, x in zip(params, saved):
                    p.copy_(x)
