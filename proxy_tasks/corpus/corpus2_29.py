# promoted program #29 of `lion-search evolve --budget 600 --rng-seed 2`
def corpus2_29(w, g, lr, t, m, v):
    lr = 0.03162277660168379 * lr
    m = interp(g, m, 0.9)
    v1 = square(g)
    v = interp(v1, v, 0.999)
    m_hat = m / (1 - 0.9 ** t)
    v_hat = v / (1 - 0.999 ** t)
    return lr * (m_hat / (sqrt(v_hat) + 1e-8) + v1 * w), m, v
