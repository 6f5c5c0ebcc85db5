# retune of seed momentum: every constant 0.9 replaced by 0.98
def momentum_b098(w, g, lr, t, m):
    m = g + 0.98 * m
    return lr * m, m
