# seed: programs/ranger.py
def ranger(w, g, lr, t, m, v, s):
    slow = where(t == 1, w, s)
    m = interp(g, m, 0.9)
    v = interp(square(g), v, 0.999)
    b2t = 0.999 ** t
    rho = 1999 - 2 * t * b2t / (1 - b2t)
    r = sqrt((rho - 4) * (rho - 2) * 1999 / ((1999 - 4) * (1999 - 2) * rho))
    m_hat = m / (1 - 0.9 ** t)
    v_hat = v / (1 - b2t)
    fast = w - lr * where(rho >= 5, r * m_hat / (sqrt(v_hat) + 1e-8), m_hat)
    sync = t % 6 == 0
    s = where(sync, interp(slow, fast, 0.5), slow)
    return w - where(sync, s, fast), m, v, s, eval_at(slow)
