# seed: programs/lookahead.py
def lookahead(w, g, lr, t, m, v, s):
    slow = where(t == 1, w, s)
    m = interp(g, m, 0.9)
    v = interp(square(g), v, 0.999)
    fast = w - lr * (m / (1 - 0.9 ** t)) / (sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    sync = t % 5 == 0
    s = where(sync, interp(slow, fast, 0.5), slow)
    return w - where(sync, s, fast), m, v, s, eval_at(slow)
