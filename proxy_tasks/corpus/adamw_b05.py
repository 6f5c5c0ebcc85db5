# retune of seed adamw: every constant 0.9 replaced by 0.5
def adamw_b05(w, g, lr, t, m, v):
    m = interp(g, m, 0.5)
    v = interp(square(g), v, 0.999)
    m_hat = m / (1 - 0.5 ** t)
    v_hat = v / (1 - 0.999 ** t)
    return lr * (m_hat / (sqrt(v_hat) + 1e-8) + 0.0001 * w), m, v
