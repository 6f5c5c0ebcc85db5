# seed: programs/adagrad.py
def adagrad(w, g, lr, t, v):
    v = v + square(g)
    return lr * g * rsqrt(v + 0.1 + 1e-7), v
