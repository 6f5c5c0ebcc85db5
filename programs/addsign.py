# AddSign (Bello et al., 2017, "Neural Optimizer Search with Reinforcement Learning"):
# u = (alpha + f(t) sign(g) sign(m)) g with alpha = 1, m an EMA of g with decay 0.9, and the
# paper's linear decay f(t) = 1 - t / T (floored at 0). Reads T, the total number of steps:
# to_optax needs total_steps=.
# hyperparameters: b1 = 0.9
def addsign(w, g, lr, t, m):
    m = interp(g, m, 0.9)
    decay = max(1 - t / T, 0)
    return lr * (1 + decay * sign(g) * sign(m)) * g, m
