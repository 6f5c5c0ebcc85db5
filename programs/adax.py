# AdaX (Li et al., 2020, "AdaX: Adaptive Gradient Descent with Exponential Long Term Memory"),
# as the paper writes it: m <- b1 m + (1 - b1) g (no bias correction), v <- (1 + b2) v + b2 g^2,
# v_hat = v / ((1 + b2)^t - 1), update = lr * m / sqrt(v_hat + eps); b1 0.9, b2 1e-4, eps 1e-8.
# (1 + b2)^t - 1 is computed as expm1(t * log1p(b2)), which float32 would otherwise lose.
# hyperparameters: b1 = 0.9, b2 = 0.0001, eps = 1e-8
def adax(w, g, lr, t, m, v):
    m = interp(g, m, 0.9)
    v = (1 + 0.0001) * v + 0.0001 * square(g)
    v_hat = v / expm1(t * log1p(0.0001))
    return lr * m / sqrt(v_hat + 1e-8), m, v
