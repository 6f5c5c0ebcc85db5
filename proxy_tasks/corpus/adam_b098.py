# retune of seed adam: every constant 0.9 replaced by 0.98
def adam_b098(w, g, lr, t, m, v):
    m = interp(g, m, 0.98)
    v = interp(square(g), v, 0.999)
    m_hat = m / (1 - 0.98 ** t)
    v_hat = v / (1 - 0.999 ** t)
    return lr * m_hat / (sqrt(v_hat) + 1e-8), m, v
