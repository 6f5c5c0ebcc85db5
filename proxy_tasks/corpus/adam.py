# seed: programs/adam.py
def adam(w, g, lr, t, m, v):
    m = interp(g, m, 0.9)
    v = interp(square(g), v, 0.999)
    m_hat = m / (1 - 0.9 ** t)
    v_hat = v / (1 - 0.999 ** t)
    return lr * m_hat / (sqrt(v_hat) + 1e-8), m, v
