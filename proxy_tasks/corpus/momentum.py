# seed: programs/momentum.py
def momentum(w, g, lr, t, m):
    m = g + 0.9 * m
    return lr * m, m
