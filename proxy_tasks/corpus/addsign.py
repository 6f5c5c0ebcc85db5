# seed: programs/addsign.py
def addsign(w, g, lr, t, m):
    m = interp(g, m, 0.9)
    decay = max(1 - t / T, 0)
    return lr * (1 + decay * sign(g) * sign(m)) * g, m
