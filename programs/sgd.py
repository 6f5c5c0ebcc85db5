# Stochastic gradient descent (Robbins & Monro, 1951): w <- w - lr * g.
# optax.sgd(learning_rate) with no momentum.
def sgd(w, g, lr, t):
    return lr * g
