# AdamW (Loshchilov & Hutter, 2019, "Decoupled Weight Decay Regularization"), as
# optax.adamw(lr): Adam with b1 0.9, b2 0.999, eps 1e-8, plus decoupled weight decay 1e-4.
# hyperparameters: b1 = 0.9, b2 = 0.999, eps = 1e-8, weight_decay = 0.0001
def adamw(w, g, lr, t, m, v):
    m = interp(g, m, 0.9)
    v = interp(square(g), v, 0.999)
    m_hat = m / (1 - 0.9 ** t)
    v_hat = v / (1 - 0.999 ** t)
    return lr * (m_hat / (sqrt(v_hat) + 1e-8) + 0.0001 * w), m, v
