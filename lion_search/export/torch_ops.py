"""The torch semantics of every op (`op_add`, ..., `op_global_norm`), mirroring `runtime`'s jnp
semantics op by op: the same safe numerics (division by zero gives 0, sqrt and log act on |x|,
log is floored at log(tiny), arcsin clips its input, results that can overflow are clipped to
the dtype's finite range) and the same per-tensor and global reductions. Part of the torch
template (with `torch_runtime`): self-contained (it imports only torch), so that `torch_module`
copies the ops a program needs into a standalone module.
"""
import torch


def scalars(*xs):
    """The arguments as tensors: Python numbers become float32 0-d tensors on the device of the
    first tensor argument that is not a 0-d CPU tensor (else the CPU), and 0-d tensors on another
    device move there (as jnp turns Python scalars into weakly typed float32 arrays)."""
    tensors = [x for x in xs if isinstance(x, torch.Tensor)]
    devices = [x.device for x in tensors if x.dim() > 0 or x.device.type != "cpu"]
    device = devices[0] if devices else torch.device("cpu")
    out = []
    for x in xs:
        if not isinstance(x, torch.Tensor):
            x = torch.full((), float(x), dtype=torch.float32, device=device)
        elif x.device != device and x.dim() == 0:
            x = x.to(device)
        out.append(x)
    return out


def finite(x):
    """Clip x to the finite range of its dtype (NaN stays NaN)."""
    x, = scalars(x)
    big = torch.finfo(x.dtype).max
    return torch.clamp(x, -big, big)


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
    a, b = scalars(a, b)
    nonzero = b != 0
    return finite(torch.where(nonzero, a / torch.where(nonzero, b, 1.0), 0.0))


def op_pow(a, b):
    """a ** b for integer b (sign of a kept for odd b), |a| ** b otherwise; 0 ** (b < 0) = 0."""
    a, b = scalars(a, b)
    magnitude = torch.abs(a) ** b
    odd = torch.remainder(b, 2.0) == 1.0
    signed = torch.where((a < 0) & odd, -magnitude, magnitude)
    return finite(torch.where((a == 0) & (b < 0), 0.0, signed))


def op_mod(a, b):
    """a mod b with the sign of b (Python's %); a mod 0 = 0."""
    a, b = scalars(a, b)
    nonzero = b != 0
    return torch.where(nonzero, torch.remainder(a, torch.where(nonzero, b, 1.0)), 0.0)


def op_neg(x):
    """-x."""
    return -x


def op_abs(x):
    """|x|."""
    x, = scalars(x)
    return torch.abs(x)


def op_sign(x):
    """sign(x) in {-1, 0, 1}."""
    x, = scalars(x)
    return torch.sign(x)


def op_sqrt(x):
    """sqrt(|x|)."""
    x, = scalars(x)
    return torch.sqrt(torch.abs(x))


def op_rsqrt(x):
    """1 / sqrt(|x|), and 0 at x = 0 (as optax's adagrad does)."""
    return op_div(1.0, op_sqrt(x))


def op_square(x):
    """x * x."""
    return x * x


def op_exp(x):
    """e ** x, clipped to the finite range."""
    x, = scalars(x)
    return finite(torch.exp(x))


def op_expm1(x):
    """e ** x - 1 (accurate near 0), clipped to the finite range."""
    x, = scalars(x)
    return finite(torch.expm1(x))


def op_log(x):
    """log|x|, floored at log(tiny) so that log(0) is finite."""
    x, = scalars(x)
    return torch.log(torch.clamp(torch.abs(x), min=torch.finfo(x.dtype).tiny))


def op_log1p(x):
    """log|1 + x| (log1p's accuracy near 0), floored like log at x = -1."""
    x, = scalars(x)
    above = x > -1.0
    return torch.where(above, torch.log1p(torch.where(above, x, 0.0)), op_log(1.0 + x))


def op_max(a, b):
    """Elementwise maximum."""
    a, b = scalars(a, b)
    return torch.maximum(a, b)


def op_min(a, b):
    """Elementwise minimum."""
    a, b = scalars(a, b)
    return torch.minimum(a, b)


def op_interp(x, y, a):
    """Linear interpolation (1 - a) * x + a * y; interp(g, m, b) is an EMA of g with decay b."""
    return (1.0 - a) * x + a * y


def op_clip(x, c):
    """x clipped to [-|c|, |c|]."""
    x, c = scalars(x, c)
    c = torch.abs(c)
    return torch.minimum(torch.maximum(x, -c), c)


def op_tanh(x):
    """tanh(x)."""
    x, = scalars(x)
    return torch.tanh(x)


def op_arcsin(x):
    """arcsin of x clipped to [-1, 1]."""
    x, = scalars(x)
    return torch.asin(torch.clamp(x, -1.0, 1.0))


def op_arctan(x):
    """arctan(x)."""
    x, = scalars(x)
    return torch.atan(x)


def op_cosh(x):
    """cosh(x), clipped to the finite range."""
    x, = scalars(x)
    return finite(torch.cosh(x))


def op_cos(x):
    """cos(x)."""
    x, = scalars(x)
    return torch.cos(x)


def op_sin(x):
    """sin(x)."""
    x, = scalars(x)
    return torch.sin(x)


def op_where(c, a, b):
    """a where c != 0, else b."""
    c, a, b = scalars(c, a, b)
    return torch.where(c != 0, a, b)


def op_lt(a, b):
    """1 where a < b, else 0."""
    a, b = scalars(a, b)
    return (a < b).to(torch.float32)


def op_le(a, b):
    """1 where a <= b, else 0."""
    a, b = scalars(a, b)
    return (a <= b).to(torch.float32)


def op_gt(a, b):
    """1 where a > b, else 0."""
    a, b = scalars(a, b)
    return (a > b).to(torch.float32)


def op_ge(a, b):
    """1 where a >= b, else 0."""
    a, b = scalars(a, b)
    return (a >= b).to(torch.float32)


def op_eq(a, b):
    """1 where a == b, else 0."""
    a, b = scalars(a, b)
    return (a == b).to(torch.float32)


def op_ne(a, b):
    """1 where a != b, else 0."""
    a, b = scalars(a, b)
    return (a != b).to(torch.float32)


def op_copy(x):
    """x (a plain assignment such as `b1 = 0.9`)."""
    return x


def op_mean(x):
    """Mean of one tensor: sum(x) / n."""
    return torch.mean(x)


def op_rms(x):
    """Root mean square of one tensor: sqrt(sum(x^2) / n)."""
    return torch.sqrt(torch.mean(torch.square(x)))


def op_norm(x):
    """L2 norm of one tensor: sqrt(sum(x^2))."""
    return torch.sqrt(torch.sum(torch.square(x)))


def op_row_mean(x):
    """Mean over the last axis, kept as an axis of size 1 (one value per row of a matrix; the
    leading axes of a tensor of rank > 2 are batch axes); x itself for rank < 2."""
    return torch.mean(x, dim=-1, keepdim=True) if x.dim() >= 2 else x


def op_col_mean(x):
    """Mean over the second-to-last axis, kept as an axis of size 1 (one value per column of a
    matrix); x itself for rank < 2."""
    return torch.mean(x, dim=-2, keepdim=True) if x.dim() >= 2 else x


def op_orthogonalize(x):
    """For a matrix, Muon's quintic Newton-Schulz iteration towards the orthogonal factor U V^T
    of x = U S V^T: X = x / (||x||_F + 1e-8) (transposed when it has more rows than columns),
    then 5 times X <- a X + (b A + c A A) X with A = X X^T and (a, b, c) = (3.4445, -4.7750,
    2.0315). Tensors of any other rank are returned unchanged."""
    if x.dim() != 2:
        return x
    tall = x.shape[0] > x.shape[1]
    y = x.T if tall else x
    y = y / (torch.sqrt(torch.sum(torch.square(y))) + 1e-8)
    for _ in range(5):
        a = y @ y.T
        y = 3.4445 * y + (-4.7750 * a + 2.0315 * (a @ a)) @ y
    return y.T if tall else y


def op_global_mean(xs):
    """Mean over all entries of all tensors."""
    return sum(torch.sum(x) for x in xs) / sum(x.numel() for x in xs)


def op_global_rms(xs):
    """Root mean square over all entries of all tensors."""
    return torch.sqrt(sum(torch.sum(torch.square(x)) for x in xs) / sum(x.numel() for x in xs))


def op_global_norm(xs):
    """L2 norm of all tensors together."""
    return torch.sqrt(sum(torch.sum(torch.square(x)) for x in xs))
