# seed: programs/rmsprop.py
def rmsprop(w, g, lr, t, v):
    v = interp(square(g), v, 0.9)
    return lr * g * rsqrt(v + 1e-8), v
