# seed: programs/adax.py
def adax(w, g, lr, t, m, v):
    m = interp(g, m, 0.9)
    v = (1 + 0.0001) * v + 0.0001 * square(g)
    v_hat = v / expm1(t * log1p(0.0001))
    return lr * m / sqrt(v_hat + 1e-8), m, v
