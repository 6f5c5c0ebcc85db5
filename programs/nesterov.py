# SGD with Nesterov momentum 0.9 (Nesterov, 1983; Sutskever et al., 2013), as
# optax.sgd(lr, momentum=0.9, nesterov=True): m <- g + 0.9 m, w <- w - lr * (g + 0.9 m).
# hyperparameters: momentum = 0.9
def nesterov(w, g, lr, t, m):
    m = g + 0.9 * m
    return lr * (g + 0.9 * m), m
