# AdaMax (Kingma & Ba, 2015, section 7.1), as optax.adamax(lr): b1 0.9, b2 0.999, eps 1e-8;
# u <- max(0.999 u, |g| + eps), and only the first moment is bias-corrected.
# hyperparameters: b1 = 0.9, b2 = 0.999, eps = 1e-8
def adamax(w, g, lr, t, m, u):
    m = interp(g, m, 0.9)
    u = max(0.999 * u, abs(g) + 1e-8)
    return lr * (m / (1 - 0.9 ** t)) / u, m, u
