# Adafactor (Shazeer & Stern, 2018, "Adafactor: Adaptive Learning Rates with Sublinear Memory
# Cost"), as optax.adafactor(lr): second-moment decay 1 - t^-0.8, eps 1e-30 added to g^2, each
# tensor's update clipped to rms 1, then scaled by max(rms(w), 1e-3); no momentum, no weight
# decay. The second moment is factored, as optax does by default, where both sides of a tensor
# are at least 128 (min(fan_in, fan_out) >= 128, static per tensor): there r holds the row means
# of g^2 and c the column means (row- and column-shaped, the only state such a tensor keeps), and
# v = r c / mean(r), the mean taken per matrix (the leading axes of a tensor of rank 3 or more
# are batch axes). Every other tensor keeps the full second moment v and steps by g / sqrt(v).
# optax's rule is the same condition on a tensor's two largest dims, factored over those: the
# two agree when they are the last two (every matrix); a tensor whose largest dims are elsewhere
# (say 200 x 130 x 5, which optax factors over its first two axes) keeps a full v here.
# hyperparameters: decay_rate = -0.8, eps1 = 1e-30, eps2 = 0.001
def adafactor(w, g, lr, t, r, c, v):
    decay = 1 - t ** -0.8
    g2 = square(g) + 1e-30
    factored = min(fan_in, fan_out) >= 128
    r = interp(row_mean(g2), r, decay)
    c = interp(col_mean(g2), c, decay)
    v = interp(g2, v, decay)
    u = g * where(factored, rsqrt(r / col_mean(r)) * rsqrt(c), rsqrt(v))
    return lr * (u / max(rms(u), 1)) * max(rms(w), 0.001), r, c, v
