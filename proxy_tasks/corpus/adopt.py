# seed: programs/adopt.py
def adopt(w, g, lr, t, m, v):
    first = t == 1
    m = interp(clip(g / max(sqrt(v), 1e-6), (t - 1) ** 0.25), m, where(first, 1, 0.9))
    v = interp(square(g), v, where(first, 0, 0.9999))
    return lr * m, m, v
