# Lookahead over Adam (Zhang et al., 2019, "Lookahead Optimizer: k steps forward, 1 step back"),
# as optax.lookahead(optax.adam(lr), sync_period=5, slow_step_size=0.5). The slow weights s are
# set from w at t = 1; every k = 5 steps they move alpha = 0.5 of the way to the fast weights,
# and the fast weights are reset to them. The model is evaluated at the slow weights (optax's
# LookaheadParams.slow), those on entry to a step.
# hyperparameters: b1 = 0.9, b2 = 0.999, eps = 1e-8, alpha = 0.5
def lookahead(w, g, lr, t, m, v, s):
    slow = where(t == 1, w, s)
    m = interp(g, m, 0.9)
    v = interp(square(g), v, 0.999)
    fast = w - lr * (m / (1 - 0.9 ** t)) / (sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    sync = mod(t, 5) == 0
    s = where(sync, interp(slow, fast, 0.5), slow)
    return w - where(sync, s, fast), m, v, s, eval_at(slow)
