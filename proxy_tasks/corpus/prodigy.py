# seed: programs/prodigy.py
def prodigy(w, g, lr, t, m, v, s, x0, d, r):
    first = t == 1
    d = where(first, 1e-6, d)
    x0 = where(first, w, x0)
    dlr = d * lr * (sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t))
    dg = d * g
    m = interp(dg, m, 0.9)
    v = interp(square(dg), v, 0.999)
    s = 0.9994998749 * s + dlr * dg / 1e-6
    r = 0.9994998749 * r + d / 1e-6 * dlr * global_mean(g * (x0 - w))
    d_new = max(d, r / global_mean(abs(s)))
    return dlr * m / (sqrt(v) + d_new * 1e-8), m, v, s, x0, d_new, r
