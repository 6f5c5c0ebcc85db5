# proxy leader #167 (not promoted) of `lion-search evolve --budget 600 --rng-seed 2`
def corpus2_167(w, g, lr, t, m, v):
    lr = 0.03162277660168379 * lr
    m = interp(g, m, 0.9)
    v = interp(square(g), v, 0.999)
    m_hat = m / (1 - 0.9 ** t)
    v_hat = v / (1.041 - 0.999 ** t)
    return lr * (m_hat / (sqrt(v_hat) + 6.2e-9) + 0.0001 * w), m, v
