# retune of seed momentum: every constant 0.9 replaced by 0.5
def momentum_b05(w, g, lr, t, m):
    m = g + 0.5 * m
    return lr * m, m
