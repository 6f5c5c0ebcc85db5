# Prodigy (Mishchenko & Defazio, 2024, "Prodigy: An Expeditiously Adaptive Parameter-Free
# Learner"), as optax.contrib.prodigy(lr) (whose default lr is 1): betas (0.9, 0.999),
# beta3 = sqrt(0.999) = 0.9994998749, eps 1e-8, d0 = 1e-6, no weight decay, no safeguard
# warmup. d (optax's estim_lr, the estimated distance to the solution, 1e-6 at t = 1) and r (its
# weighted numerator) are scalar slots; m and v are Adam's moments of d g, s accumulates the
# d-weighted gradients and x0 holds the initial weights (set at t = 1). optax sums <g, x0 - w>
# and |s| over all entries; this program takes global means, whose ratio is the same.
# hyperparameters: b1 = 0.9, b2 = 0.999, eps = 1e-8, d0 = 0.000001
# derived: 0.9994998749 = sqrt(b2)
def prodigy(w, g, lr, t, m, v, s, x0, d, r):
    first = t == 1
    d = where(first, 0.000001, d)
    x0 = where(first, w, x0)
    dlr = d * lr * (sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t))
    dg = d * g
    m = interp(dg, m, 0.9)
    v = interp(square(dg), v, 0.999)
    s = 0.9994998749 * s + dlr * dg / 0.000001
    r = 0.9994998749 * r + d / 0.000001 * dlr * global_mean(g * (x0 - w))
    d_new = max(d, r / global_mean(abs(s)))
    return dlr * m / (sqrt(v) + d_new * 1e-8), m, v, s, x0, d_new, r
