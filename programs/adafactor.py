# Adafactor (Shazeer & Stern, 2018, "Adafactor: Adaptive Learning Rates with Sublinear Memory
# Cost"), as optax.adafactor(lr): second-moment decay 1 - t^-0.8, eps 1e-30 added to g^2, each
# tensor's update clipped to rms 1, then scaled by max(rms(w), 1e-3); no momentum, no weight
# decay. The second moment of a tensor of rank >= 2 is factored over its last two axes: r holds
# the row means of g^2 and c the column means (row- and column-shaped slots, so the memory cost
# is well under 1), and v = r c / mean(r), the mean taken per matrix (the leading axes of a
# tensor of rank 3 or more are batch axes). For rank < 2 row_mean and col_mean are the identity,
# so r = c = the unfactored second moment and the update is g / sqrt(v), as in optax.
# optax factors a tensor only when its second-largest dim is >= 128 (min_dim_size_to_factor)
# and then over its two largest dims; this program factors every tensor of rank >= 2. It
# matches optax when each tensor of rank >= 2 has its last two dims >= 128 and these are its
# two largest.
# hyperparameters: decay_rate = -0.8, eps1 = 1e-30, eps2 = 0.001
def adafactor(w, g, lr, t, r, c):
    decay = 1 - t ** -0.8
    g2 = square(g) + 1e-30
    r = interp(row_mean(g2), r, decay)
    c = interp(col_mean(g2), c, decay)
    u = g * rsqrt(r / col_mean(r)) * rsqrt(c)
    return lr * (u / max(rms(u), 1)) * max(rms(w), 0.001), r, c
