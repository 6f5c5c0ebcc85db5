# seed: programs/adamax.py
def adamax(w, g, lr, t, m, u):
    m = interp(g, m, 0.9)
    u = max(0.999 * u, abs(g) + 1e-8)
    return lr * (m / (1 - 0.9 ** t)) / u, m, u
