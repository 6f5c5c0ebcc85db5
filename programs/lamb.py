# LAMB (You et al., 2020, "Large Batch Optimization for Deep Learning: Training BERT in 76
# minutes"), as optax.lamb(lr): Adam's direction u (b1 0.9, b2 0.999, eps 1e-6, no weight
# decay) scaled per tensor by the trust ratio ||w|| / ||u||, which is 1 where either norm is 0.
# hyperparameters: b1 = 0.9, b2 = 0.999, eps = 1e-6
def lamb(w, g, lr, t, m, v):
    m = interp(g, m, 0.9)
    v = interp(square(g), v, 0.999)
    u = (m / (1 - 0.9 ** t)) / (sqrt(v / (1 - 0.999 ** t)) + 1e-6)
    ratio = norm(w) / norm(u)
    return lr * u * where(ratio == 0, 1, ratio), m, v
