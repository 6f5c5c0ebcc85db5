# Adam (Kingma & Ba, 2015, "Adam: A Method for Stochastic Optimization"), as optax.adam(lr):
# b1 0.9, b2 0.999, eps 1e-8 outside the square root, bias-corrected moments.
# hyperparameters: b1 = 0.9, b2 = 0.999, eps = 1e-8
def adam(w, g, lr, t, m, v):
    m = interp(g, m, 0.9)
    v = interp(square(g), v, 0.999)
    m_hat = m / (1 - 0.9 ** t)
    v_hat = v / (1 - 0.999 ** t)
    return lr * m_hat / (sqrt(v_hat) + 1e-8), m, v
