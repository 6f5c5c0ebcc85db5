# promoted program #720 of `lion-search evolve --budget 600 --rng-seed 2`
def corpus2_720(w, g, lr, t, m, v):
    lr = 0.09021 * lr
    m = interp(g, m, 0.9)
    v1 = 0 < g
    v = interp(square(g), v, 0.999)
    m_hat = m / 1.765
    g = fan_out / w
    v_hat = v / (1.041 - 0.999 ** t)
    return lr * (m_hat / sqrt(v_hat) + 0.0001 * w), m, v
