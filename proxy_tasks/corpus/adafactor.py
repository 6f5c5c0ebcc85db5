# seed: programs/adafactor.py
def adafactor(w, g, lr, t, r, c):
    decay = 1 - t ** (-0.8)
    g2 = square(g) + 1e-30
    r = interp(row_mean(g2), r, decay)
    c = interp(col_mean(g2), c, decay)
    u = g * rsqrt(r / col_mean(r)) * rsqrt(c)
    return lr * (u / max(rms(u), 1)) * max(rms(w), 0.001), r, c
