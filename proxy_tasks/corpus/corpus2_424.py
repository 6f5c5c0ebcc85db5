# promoted program #424 of `lion-search evolve --budget 600 --rng-seed 2`
def corpus2_424(w, g, lr, t, m, v):
    lr = 0.01645 * lr
    m = interp(g, m, 0.9)
    v1 = orthogonalize(t)
    v = interp(square(g), v, 0.999)
    m_hat = m / (1 - 0.9)
    v_hat = v / (1.041 - 0.999 ** t)
    return lr * (m_hat / (sqrt(v_hat) + 1e-8) + w), m, v
