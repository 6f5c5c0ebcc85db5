# retune of seed rmsprop: every constant 0.9 replaced by 0.98
def rmsprop_b098(w, g, lr, t, v):
    v = interp(square(g), v, 0.98)
    return lr * g * rsqrt(v + 1e-8), v
