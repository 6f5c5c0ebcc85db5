# AdEMAMix (Pagliardini et al., 2024, "The AdEMAMix Optimizer: Better, Faster, Older"), as
# optax.contrib.ademamix(lr): a fast EMA m1 of g (b1 0.9, bias-corrected) plus alpha = 5 times
# a slow EMA m2 (b3 0.9999, not bias-corrected), over the square root of the bias-corrected
# second moment (b2 0.999) plus eps 1e-8; no weight decay. optax's defaults schedule neither
# alpha nor b3 (no warmup), so both are constants.
# hyperparameters: b1 = 0.9, b2 = 0.999, b3 = 0.9999, alpha = 5, eps = 1e-8
def ademamix(w, g, lr, t, m1, m2, v):
    m1 = interp(g, m1, 0.9)
    m2 = interp(g, m2, 0.9999)
    v = interp(square(g), v, 0.999)
    m1_hat = m1 / (1 - 0.9 ** t)
    v_hat = v / (1 - 0.999 ** t)
    return lr * ((m1_hat + 5 * m2) / (sqrt(v_hat) + 1e-8)), m1, m2, v
