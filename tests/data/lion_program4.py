# The raw program the Lion search discovered, before simplification: Program 4 of Chen et al.
# 2023, "Symbolic Discovery of Optimization Algorithms" (arXiv 2302.06675), in this language's
# signature order (w, g, lr, t, m, v). Its instructions and constants are kept as published,
# redundant ones included: m is overwritten before it is read (so `m = cosh(update)` is dead
# across steps), and m / sqrt(m * m) is sign(m).
def lion_program4(w, g, lr, t, m, v):
    g = clip(g, lr)
    g = arcsin(g)
    m = interp(g, v, 0.899)
    m2 = m * m
    v = interp(g, m, 1.109)
    abs_m = sqrt(m2)
    update = m / abs_m
    wd = w * 0.4602
    update = update + wd
    lr = lr * 0.0002
    m = cosh(update)
    update = update * lr
    return update, m, v
