# retune of seed lion: every constant 0.9 replaced by 0.5
def lion_b05(w, g, lr, t, m):
    c = interp(g, m, 0.5)
    m = interp(g, m, 0.99)
    return lr * (sign(c) + 0.001 * w), m
