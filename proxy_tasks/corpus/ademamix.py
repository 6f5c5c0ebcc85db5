# seed: programs/ademamix.py
def ademamix(w, g, lr, t, m1, m2, v):
    m1 = interp(g, m1, 0.9)
    m2 = interp(g, m2, 0.9999)
    v = interp(square(g), v, 0.999)
    m1_hat = m1 / (1 - 0.9 ** t)
    v_hat = v / (1 - 0.999 ** t)
    return lr * ((m1_hat + 5 * m2) / (sqrt(v_hat) + 1e-8)), m1, m2, v
