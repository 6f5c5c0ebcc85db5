# seed: programs/lamb.py
def lamb(w, g, lr, t, m, v):
    m = interp(g, m, 0.9)
    v = interp(square(g), v, 0.999)
    u = m / (1 - 0.9 ** t) / (sqrt(v / (1 - 0.999 ** t)) + 1e-6)
    ratio = norm(w) / norm(u)
    return lr * u * where(ratio == 0, 1, ratio), m, v
