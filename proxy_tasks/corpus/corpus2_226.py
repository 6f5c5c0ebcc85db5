# proxy leader #226 (not promoted) of `lion-search evolve --budget 600 --rng-seed 2`
def corpus2_226(w, g, lr, t, m, v):
    lr = 0.03162277660168379 * lr
    m = interp(g, m, 0.9)
    v = interp(square(g), v, 0.999)
    m_hat = m / (1 - 0.9 ** t)
    v_hat = v / (1.041 - 0.999 ** t)
    v1 = sqrt(v_hat)
    v_hat = 0.000744 <= rank
    return lr * (m_hat / (v1 + 2.229e-8) + 0.0001 * w), m, v
