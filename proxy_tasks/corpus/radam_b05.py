# retune of seed radam: every constant 0.9 replaced by 0.5
def radam_b05(w, g, lr, t, m, v):
    m = interp(g, m, 0.5)
    v = interp(square(g), v, 0.999)
    b2t = 0.999 ** t
    rho = 1999 - 2 * t * b2t / (1 - b2t)
    r = sqrt((rho - 4) * (rho - 2) * 1999 / ((1999 - 4) * (1999 - 2) * rho))
    m_hat = m / (1 - 0.5 ** t)
    v_hat = v / (1 - b2t)
    return lr * where(rho >= 5, r * m_hat / (sqrt(v_hat) + 1e-8), m_hat), m, v
