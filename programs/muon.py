# Muon (Jordan et al., 2024, "Muon: An optimizer for hidden layers in neural networks",
# kellerjordan.github.io/posts/muon), as optax.contrib.muon(lr): on each 2-D weight, Nesterov
# momentum with beta 0.95 (bias-corrected as optax does), orthogonalized by 5 Newton-Schulz steps
# (orthogonalize) and scaled by sqrt(max(1, fan_out / fan_in)); every tensor that is not 2-D gets
# optax.adamw(lr, nesterov=True) with b1 0.9, b2 0.999, eps 1e-8. No weight decay (optax's
# default 0). `matrix` is static per tensor, so each tensor takes one branch of each where on
# it: v is read on the Adam branch alone and stored only for the tensors that are not 2-D, and
# the memory cost is that of the momentum m, about 1.
# hyperparameters: momentum = 0.95, b1 = 0.9, b2 = 0.999, eps = 1e-8
def muon(w, g, lr, t, m, v):
    matrix = rank == 2
    b = where(matrix, 0.95, 0.9)
    m = interp(g, m, b)
    v = interp(square(g), v, 0.999)
    m_hat = b * (m / (1 - b ** (t + 1))) + (1 - b) * (g / (1 - b ** t))
    adam = m_hat / (sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    ortho = orthogonalize(m_hat) * sqrt(max(fan_out / fan_in, 1))
    return lr * where(matrix, ortho, adam), m, v
