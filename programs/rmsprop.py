# RMSProp (Tieleman & Hinton, 2012, Coursera lecture 6.5), as optax.rmsprop(lr):
# decay 0.9, eps 1e-8 inside the square root.
# hyperparameters: decay = 0.9, eps = 1e-8
def rmsprop(w, g, lr, t, v):
    v = interp(square(g), v, 0.9)
    return lr * g * rsqrt(v + 1e-8), v
