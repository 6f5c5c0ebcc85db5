# #106 of runs/worst6, BENCHMARKS section 12
def worst6_106(w, g, lr, t, m, v):
    lr = 0.03162277660168379 * lr
    m = interp(g, m, 0.5297)
    v = interp(square(g), v, 0.999)
    m_hat = m / (1 - 0.9 ** t)
    v_hat = v / (1 - 0.999 ** t)
    return lr * (m_hat / (sqrt(v_hat) + 1e-8) + 0.0001 * w), m, v
