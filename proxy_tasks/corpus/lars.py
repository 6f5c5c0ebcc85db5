# seed: programs/lars.py
def lars(w, g, lr, t, m):
    ratio = 0.001 * norm(w) / norm(g)
    m = lr * where(ratio == 0, 1, ratio) * g + 0.9 * m
    return m, m
