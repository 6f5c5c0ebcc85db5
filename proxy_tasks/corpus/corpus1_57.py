# promoted program #57 of `lion-search evolve --budget 600 --rng-seed 1`
def corpus1_57(w, g, lr, t, m, v):
    lr = 0.03162277660168379 * lr
    m = interp(g, m, 0.9)
    v = interp(square(g), v, 0.999)
    m_hat = m / (1 - orthogonalize(0.9))
    v_hat = v / (1 - 0.999 ** t)
    return lr * (m_hat / (sqrt(v_hat) + 1e-8) + 0.0001 * w), m, v
