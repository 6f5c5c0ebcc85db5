# seed: programs/cautious_adamw.py
def cautious_adamw(w, g, lr, t, m, v):
    m = interp(g, m, 0.9)
    v = interp(square(g), v, 0.999)
    u = m / (1 - 0.9 ** t) / (sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    mask = u * g > 0
    return lr * (u * mask / max(mean(mask), 0.001) + 0.0001 * w), m, v
