# Lazy Adam (as TensorFlow's LazyAdamOptimizer, for sparse gradients such as embeddings): Adam
# (Kingma & Ba, 2015) with b1 0.9, b2 0.999, eps 1e-8, whose weight update is zero wherever the
# gradient is exactly zero; the moments are still updated as Adam's are.
# hyperparameters: b1 = 0.9, b2 = 0.999, eps = 1e-8
def lazy_adam(w, g, lr, t, m, v):
    m = interp(g, m, 0.9)
    v = interp(square(g), v, 0.999)
    m_hat = m / (1 - 0.9 ** t)
    v_hat = v / (1 - 0.999 ** t)
    return where(g == 0, 0, lr * m_hat / (sqrt(v_hat) + 1e-8)), m, v
