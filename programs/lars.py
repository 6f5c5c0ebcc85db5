# LARS (You et al., 2017, "Large Batch Training of Convolutional Networks"), as optax.lars(lr):
# the gradient scaled per tensor by the trust ratio 0.001 ||w|| / ||g|| (1 where either norm is
# 0) and by lr, accumulated in a heavy-ball momentum trace (0.9, not Nesterov) that is the
# update; no weight decay.
# hyperparameters: trust_coefficient = 0.001, momentum = 0.9
def lars(w, g, lr, t, m):
    ratio = 0.001 * norm(w) / norm(g)
    m = lr * where(ratio == 0, 1, ratio) * g + 0.9 * m
    return m, m
