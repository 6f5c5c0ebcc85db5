# proxy leader #491 (not promoted) of `lion-search evolve --budget 600 --rng-seed 1`
def corpus1_491(w, g, lr, t, v):
    lr = 0.03162277660168379 * lr
    v = interp(square(g), v, 0.999)
    m_hat = g * (1 - 0.9 ** t)
    v2 = 0.999 ** t
    v_hat = v / (1 - v2)
    v1 = interp(v2, 2, v2)
    return lr * (m_hat / (sqrt(v_hat) + 4.486e-9) + 5.945e-5 * w), v
