# ADOPT (Taniguchi et al., 2024, "ADOPT: Modified Adam Can Converge with Any beta2 with the
# Optimal Rate"), as optax.contrib.adopt(lr): b1 0.9, b2 0.9999, eps 1e-6, with clipping. The
# gradient is normalized by the second moment of the previous steps, max(sqrt(v), eps), clipped
# to [-(t - 1)^0.25, (t - 1)^0.25] and averaged into m, which is the update; v is updated after.
# The first step only sets v = g^2 (its update is zero).
# hyperparameters: b1 = 0.9, b2 = 0.9999, eps = 1e-6, clip_power = 0.25
def adopt(w, g, lr, t, m, v):
    first = t == 1
    m = interp(clip(g / max(sqrt(v), 1e-6), (t - 1) ** 0.25), m, where(first, 1, 0.9))
    v = interp(square(g), v, where(first, 0, 0.9999))
    return lr * m, m, v
