# seed: programs/powersign.py
def powersign(w, g, lr, t, m):
    m = interp(g, m, 0.9)
    decay = max(1 - t / T, 0)
    return lr * exp(decay * sign(g) * sign(m)) * g, m
