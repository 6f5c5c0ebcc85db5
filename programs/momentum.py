# SGD with heavy-ball momentum 0.9 (Polyak, 1964), as optax.sgd(lr, momentum=0.9):
# m <- g + 0.9 m, w <- w - lr * m.
# hyperparameters: momentum = 0.9
def momentum(w, g, lr, t, m):
    m = g + 0.9 * m
    return lr * m, m
