# proxy leader #263 (not promoted) of `lion-search evolve --budget 600 --rng-seed 1`
def corpus1_263(w, g, lr, t, m, v):
    lr = 0.03162277660168379 * lr
    m = interp(g, m, 0.9)
    v = interp(square(g), v, 0.999)
    v_hat = v / (0.9345 - 0.999 ** m)
    m_hat = m / (1 - 0.9 ** t)
    return lr * (m_hat / (sqrt(v_hat) + 1e-8) + 0.0001 * w), m, v
