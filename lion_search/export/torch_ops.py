"""The torch semantics of the ops an exported PyTorch module writes as helpers (`writer`): those
with semantics of their own, mirroring `language.runtime`'s jnp ones op by op (division by zero
gives 0, log is floored at log(tiny), results that can overflow are clipped to the dtype's
finite range; per-tensor and global reductions). `torch_module` copies the ones a program needs
into its module, renamed (`op_div` -> `div`); it reads this file as text and never imports it.
Arguments are tensors on one device (the export makes them so), but the dividend of div, which
may be a Python number.
"""
import torch


def finite(x):
    """Clip x to the finite range of its dtype (NaN stays NaN)."""
    big = torch.finfo(x.dtype).max
    return torch.clamp(x, -big, big)


def op_div(a, b):
    """a / b, with a / 0 = 0."""
    nonzero = b != 0
    return finite(torch.where(nonzero, a / torch.where(nonzero, b, 1.0), 0.0))


def op_pow(a, b):
    """a ** b for integer b (sign of a kept for odd b), |a| ** b otherwise; 0 ** (b < 0) = 0."""
    magnitude = torch.abs(a) ** b
    odd = torch.remainder(b, 2.0) == 1.0
    signed = torch.where((a < 0) & odd, -magnitude, magnitude)
    return finite(torch.where((a == 0) & (b < 0), 0.0, signed))


def op_mod(a, b):
    """a mod b with the sign of b (Python's %); a mod 0 = 0."""
    nonzero = b != 0
    return torch.where(nonzero, torch.remainder(a, torch.where(nonzero, b, 1.0)), 0.0)


def op_log(x):
    """log|x|, floored at log(tiny) so that log(0) is finite."""
    return torch.log(torch.clamp(torch.abs(x), min=torch.finfo(x.dtype).tiny))


def op_log1p(x):
    """log|1 + x| (log1p's accuracy near 0), floored like log at x = -1."""
    above = x > -1.0
    return torch.where(above, torch.log1p(torch.where(above, x, 0.0)), op_log(1.0 + x))


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
