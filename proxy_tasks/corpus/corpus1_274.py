# promoted program #274 of `lion-search evolve --budget 600 --rng-seed 1`
def corpus1_274(w, g, lr, t, m, v, m1):
    lr = 0.03162277660168379 * lr
    m = interp(g, m, 0.9)
    v = interp(square(g), v, 0.999)
    m1 = m1 * 0.5 + g
    m_hat = m1 / (1 - 0.9 ** t)
    v2 = 0.999 ** t
    v_hat = v / (1 - v2)
    v1 = interp(v2, 2, v2)
    return lr * (m_hat / (sqrt(v_hat) + 3.913e-9) + 0.0001 * w), m, v, m1
