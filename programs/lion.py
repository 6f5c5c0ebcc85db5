# Lion (Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms", Program 1), as
# optax.lion(lr): b1 0.9, b2 0.99, decoupled weight decay 1e-3.
# hyperparameters: b1 = 0.9, b2 = 0.99, weight_decay = 0.001
def lion(w, g, lr, t, m):
    c = interp(g, m, 0.9)
    m = interp(g, m, 0.99)
    return lr * (sign(c) + 0.001 * w), m
