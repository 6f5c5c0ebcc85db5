"""The jnp semantics of every op, and the optax wrapper that runs a program as an optimizer.

This module is self-contained on purpose (it imports only jax, optax, the standard library and
the pure-Python `plan`): `export` copies the functions a program needs from here and from `plan`
into a standalone module, so an exported optimizer and `to_optax` run the very same code.

Values inside a program are either a *list of leaves* (one array per parameter tensor) or a
*scalar* shared by all leaves (lr, t, constants, global reductions). Ops are written on arrays;
`apply` runs one instruction by the program's plan (`plan.make_plan`): elementwise ops leaf by
leaf, per-tensor ops (reductions, row_mean, orthogonalize) on each leaf at its shape, global
reductions over all leaves, and on each leaf only what the plan keeps live there (a where whose
condition is static there is its branch). Every value means the parameter-shaped array it
broadcasts to; a value is None on the leaves where it is dead.

Safe numerics: from finite inputs no op returns NaN or Inf. Division by zero gives 0, sqrt and
log act on |x|, log is floored at log(tiny), arcsin clips its input to [-1, 1], and results
that can overflow (division, exp, expm1, cosh, pow) are clipped to the dtype's finite range.
"""
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from lion_search.language.plan import (
    Kind,
    Mode,
    Plan,
    execute,
    stored_shape,
    tensor_facts,
)


def finite(x):
    """Clip x to the finite range of its dtype (NaN stays NaN)."""
    x = jnp.asarray(x)
    big = jnp.finfo(x.dtype).max
    return jnp.clip(x, -big, big)


def op_add(a, b):
    """a + b."""
    return a + b


def op_sub(a, b):
    """a - b."""
    return a - b


def op_mul(a, b):
    """a * b."""
    return a * b


def op_div(a, b):
    """a / b, with a / 0 = 0."""
    nonzero = b != 0
    return finite(jnp.where(nonzero, a / jnp.where(nonzero, b, 1.0), 0.0))


def op_pow(a, b):
    """a ** b for integer b (sign of a kept for odd b), |a| ** b otherwise; 0 ** (b < 0) = 0."""
    magnitude = jnp.abs(a) ** b
    odd = jnp.mod(b, 2.0) == 1.0
    signed = jnp.where((a < 0) & odd, -magnitude, magnitude)
    return finite(jnp.where((a == 0) & (b < 0), 0.0, signed))


def op_mod(a, b):
    """a mod b with the sign of b (Python's %); a mod 0 = 0."""
    nonzero = b != 0
    return jnp.where(nonzero, jnp.mod(a, jnp.where(nonzero, b, 1.0)), 0.0)


def op_neg(x):
    """-x."""
    return -x


def op_abs(x):
    """|x|."""
    return jnp.abs(x)


def op_sign(x):
    """sign(x) in {-1, 0, 1}."""
    return jnp.sign(x)


def op_sqrt(x):
    """sqrt(|x|)."""
    return jnp.sqrt(jnp.abs(x))


def op_rsqrt(x):
    """1 / sqrt(|x|), and 0 at x = 0 (as optax's adagrad does)."""
    return op_div(1.0, op_sqrt(x))


def op_square(x):
    """x * x."""
    return x * x


def op_exp(x):
    """e ** x, clipped to the finite range."""
    return finite(jnp.exp(x))


def op_expm1(x):
    """e ** x - 1 (accurate near 0), clipped to the finite range."""
    return finite(jnp.expm1(x))


def op_log(x):
    """log|x|, floored at log(tiny) so that log(0) is finite."""
    x = jnp.asarray(x)
    return jnp.log(jnp.maximum(jnp.abs(x), jnp.finfo(x.dtype).tiny))


def op_log1p(x):
    """log|1 + x| (log1p's accuracy near 0), floored like log at x = -1."""
    above = x > -1.0
    return jnp.where(above, jnp.log1p(jnp.where(above, x, 0.0)), op_log(1.0 + x))


def op_max(a, b):
    """Elementwise maximum."""
    return jnp.maximum(a, b)


def op_min(a, b):
    """Elementwise minimum."""
    return jnp.minimum(a, b)


def op_interp(x, y, a):
    """Linear interpolation (1 - a) * x + a * y; interp(g, m, b) is an EMA of g with decay b."""
    return (1.0 - a) * x + a * y


def op_clip(x, c):
    """x clipped to [-|c|, |c|]."""
    c = jnp.abs(c)
    return jnp.clip(x, -c, c)


def op_tanh(x):
    """tanh(x)."""
    return jnp.tanh(x)


def op_arcsin(x):
    """arcsin of x clipped to [-1, 1]."""
    return jnp.arcsin(jnp.clip(x, -1.0, 1.0))


def op_arctan(x):
    """arctan(x)."""
    return jnp.arctan(x)


def op_cosh(x):
    """cosh(x), clipped to the finite range."""
    return finite(jnp.cosh(x))


def op_cos(x):
    """cos(x)."""
    return jnp.cos(x)


def op_sin(x):
    """sin(x)."""
    return jnp.sin(x)


def op_where(c, a, b):
    """a where c != 0, else b."""
    return jnp.where(c != 0, a, b)


def op_lt(a, b):
    """1 where a < b, else 0."""
    return jnp.where(a < b, 1.0, 0.0)


def op_le(a, b):
    """1 where a <= b, else 0."""
    return jnp.where(a <= b, 1.0, 0.0)


def op_gt(a, b):
    """1 where a > b, else 0."""
    return jnp.where(a > b, 1.0, 0.0)


def op_ge(a, b):
    """1 where a >= b, else 0."""
    return jnp.where(a >= b, 1.0, 0.0)


def op_eq(a, b):
    """1 where a == b, else 0."""
    return jnp.where(a == b, 1.0, 0.0)


def op_ne(a, b):
    """1 where a != b, else 0."""
    return jnp.where(a != b, 1.0, 0.0)


def op_copy(x):
    """x (a plain assignment such as `b1 = 0.9`)."""
    return x


def op_mean(x):
    """Mean of one tensor: sum(x) / n."""
    return jnp.mean(x)


def op_rms(x):
    """Root mean square of one tensor: sqrt(sum(x^2) / n)."""
    return jnp.sqrt(jnp.mean(jnp.square(x)))


def op_norm(x):
    """L2 norm of one tensor: sqrt(sum(x^2))."""
    return jnp.sqrt(jnp.sum(jnp.square(x)))


def op_row_mean(x):
    """Mean over the last axis, kept as an axis of size 1 (one value per row of a matrix; the
    leading axes of a tensor of rank > 2 are batch axes); x itself for rank < 2."""
    return jnp.mean(x, axis=-1, keepdims=True) if jnp.ndim(x) >= 2 else x


def op_col_mean(x):
    """Mean over the second-to-last axis, kept as an axis of size 1 (one value per column of a
    matrix); x itself for rank < 2."""
    return jnp.mean(x, axis=-2, keepdims=True) if jnp.ndim(x) >= 2 else x


def op_orthogonalize(x):
    """For a matrix, Muon's quintic Newton-Schulz iteration towards the orthogonal factor U V^T
    of x = U S V^T: X = x / (||x||_F + 1e-8) (transposed when it has more rows than columns),
    then 5 times X <- a X + (b A + c A A) X with A = X X^T and (a, b, c) = (3.4445, -4.7750,
    2.0315). Tensors of any other rank are returned unchanged."""
    if jnp.ndim(x) != 2:
        return x
    tall = x.shape[0] > x.shape[1]
    y = x.T if tall else x
    y = y / (jnp.sqrt(jnp.sum(jnp.square(y))) + 1e-8)
    for _ in range(5):
        a = y @ y.T
        y = 3.4445 * y + (-4.7750 * a + 2.0315 * (a @ a)) @ y
    return y.T if tall else y


def op_global_mean(xs):
    """Mean over all entries of all tensors."""
    return sum(jnp.sum(x) for x in xs) / sum(jnp.size(x) for x in xs)


def op_global_rms(xs):
    """Root mean square over all entries of all tensors."""
    return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in xs) / sum(jnp.size(x) for x in xs))


def op_global_norm(xs):
    """L2 norm of all tensors together."""
    return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in xs))


def broadcast_leaves(x, like):
    """x (a list of leaves or a scalar) broadcast to the shapes of the leaves of `like`."""
    values = x if isinstance(x, list) else [x] * len(like)
    return [jnp.broadcast_to(v, jnp.shape(p)) for v, p in zip(values, like)]


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
            out.append(fn(jnp.broadcast_to(xs[0], jnp.shape(p))))
    return out


def shape_inputs(leaves: list, total_steps: Any) -> tuple:
    """(rank, fan_in, fan_out, T): per leaf, its `tensor_facts`, and the total number of steps
    (NaN when unknown)."""
    facts = [tensor_facts(jnp.shape(x)) for x in leaves]
    rank, fan_in, fan_out = ([jnp.float32(f[k]) for f in facts] for k in range(3))
    steps = jnp.float32(jnp.nan if total_steps is None else total_steps)
    return rank, fan_in, fan_out, steps


def static_value(functions, op, values):
    """functions[op] of float32 scalars `values`, computed at once (also while jax traces a
    function: a static value is a constant), as a float."""
    with jax.ensure_compile_time_eval():
        return float(functions[op](*[jnp.float32(v) for v in values]))


def run(code, functions, w, g, lr, t, *memory, plan, total_steps=None):
    """One step of the program `code` (`plan.Code`, its ops in `functions`) by `plan`, on lists
    of leaves: (update, *new memory values[, evaluation weights]). w gives the shape inputs; T
    is `total_steps` (NaN when None)."""
    values = (w, g, lr, t) + shape_inputs(w, total_steps) + memory
    return execute(code, functions, plan, values, w, apply)


def gradient_transformation(
    program: Callable[..., tuple], state_type: Any, learning_rate: Any,
    plan_for: Callable[[tuple], Plan], total_steps: Any = None,
) -> optax.GradientTransformation:
    """Run `program(w, g, lr, t, *memory, plan=, total_steps=) -> (update, *memory, ...)` as an
    optax transformation, by its plan `plan_for(leaf shapes)` for the params.

    The state is `state_type(count, *memory)`: the step count (int32) and one pytree per memory
    slot, zero at init, each leaf stored at `stored_shape` of the slot's shape on it in the
    params' dtype (a zero-size placeholder where the plan does not store the slot). Each step
    feeds the program t = count + 1 and lr = learning_rate(count) (or the float), computing in
    at least float32, and returns -update, so that optax.apply_updates gives w - update.
    Outputs after the memory values (evaluation weights) are not used here.
    """
    def init_fn(params):
        leaves, treedef = jax.tree.flatten(params)
        plan = plan_for(tuple(jnp.shape(p) for p in leaves))
        zeros = [treedef.unflatten([jnp.zeros(stored_shape(s, jnp.shape(p)), p.dtype)
                                    for s, p in zip(shapes, leaves)]) for shapes in plan.slots]
        return state_type(jnp.zeros([], jnp.int32), *zeros)

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("this optimizer reads the weights w: pass params to update()")
        lr = learning_rate(state.count) if callable(learning_rate) else learning_rate
        p_leaves, plan, outputs = run_step(program, plan_for, params, updates, state, lr,
                                           total_steps)
        treedef = jax.tree.structure(params)
        new_updates = treedef.unflatten([-u for u in narrow(outputs[0], p_leaves)])
        memory = [treedef.unflatten(narrow(m, p_leaves, [stored_shape(s, p.shape)
                                                         for s, p in zip(shapes, p_leaves)]))
                  for m, shapes in zip(outputs[1:], plan.slots)]
        return new_updates, state_type(state.count + 1, *memory)

    return optax.GradientTransformation(init_fn, update_fn)


def run_step(program, plan_for, params, updates, state, lr, total_steps) -> tuple:
    """(the params' leaves, their plan, the program's outputs for one step from `state`),
    computing on leaves widened to at least float32."""
    treedef = jax.tree.structure(params)
    p_leaves = treedef.flatten_up_to(params)
    plan = plan_for(tuple(jnp.shape(p) for p in p_leaves))

    def widen(tree):
        return [jnp.asarray(x, jnp.promote_types(p.dtype, jnp.float32))
                for x, p in zip(treedef.flatten_up_to(tree), p_leaves)]

    t = (state.count + 1).astype(jnp.float32)
    return p_leaves, plan, program(widen(params), widen(updates), jnp.asarray(lr, jnp.float32),
                                   t, *[widen(m) for m in state[1:]], plan=plan,
                                   total_steps=total_steps)


def narrow(value, p_leaves, shapes=None):
    """A program value as leaves of the params' dtypes at `shapes` (default: the params'):
    zeros where the value is dead (None) or the shape has no entries (a slot not stored)."""
    leaves = value if isinstance(value, list) else [value] * len(p_leaves)
    shapes = [jnp.shape(p) for p in p_leaves] if shapes is None else shapes
    return [jnp.zeros(s, p.dtype) if v is None or 0 in s else
            jnp.broadcast_to(v, s).astype(p.dtype) for v, s, p in zip(leaves, shapes, p_leaves)]


def evaluation_params(program: Callable[..., tuple], plan_for: Callable[[tuple], Plan],
                      state: Any, params: Any, total_steps: Any = None) -> Any:
    """The weights to evaluate at, given the optimizer `state` and the current `params`: the
    program's last output (its evaluation weights, computed from the values on entry to a step,
    so g = 0 and lr = 0 change nothing) broadcast to the params' shapes and dtypes."""
    zeros = jax.tree.map(jnp.zeros_like, params)
    p_leaves, _, outputs = run_step(program, plan_for, params, zeros, state, 0.0, total_steps)
    return jax.tree.structure(params).unflatten(narrow(outputs[-1], p_leaves))
