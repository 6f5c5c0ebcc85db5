# AdaGrad (Duchi, Hazan & Singer, 2011, JMLR 12), as optax.adagrad(lr): initial accumulator 0.1,
# eps 1e-7 inside the square root. Memory v starts at 0, so the accumulator is v + 0.1.
# hyperparameters: initial_accumulator = 0.1, eps = 1e-7
def adagrad(w, g, lr, t, v):
    v = v + square(g)
    return lr * g * rsqrt(v + 0.1 + 1e-7), v
