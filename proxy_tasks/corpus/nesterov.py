# seed: programs/nesterov.py
def nesterov(w, g, lr, t, m):
    m = g + 0.9 * m
    return lr * (g + 0.9 * m), m
