# Cautious AdamW (Liang et al., 2024, "Cautious Optimizers: Improving Training with One Line of
# Code", arXiv 2411.16085): the AdamW direction u (optax.adamw's defaults: b1 0.9, b2 0.999,
# eps 1e-8) is zeroed where its sign disagrees with the gradient's, mask = (u g > 0), and
# rescaled by the mask's per-tensor mean, floored at 1e-3 as in the authors' code
# (github.com/kyleliang919/C-Optim: mask.mean().clamp(min=1e-3)). The decoupled weight decay
# (1e-4, as optax.adamw) is not masked, as in the authors' code.
# hyperparameters: b1 = 0.9, b2 = 0.999, eps = 1e-8, weight_decay = 0.0001, mask_floor = 0.001
def cautious_adamw(w, g, lr, t, m, v):
    m = interp(g, m, 0.9)
    v = interp(square(g), v, 0.999)
    u = (m / (1 - 0.9 ** t)) / (sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    mask = u * g > 0
    return lr * (u * mask / max(mean(mask), 0.001) + 0.0001 * w), m, v
