# seed: programs/lion.py
def lion(w, g, lr, t, m):
    c = interp(g, m, 0.9)
    m = interp(g, m, 0.99)
    return lr * (sign(c) + 0.001 * w), m
