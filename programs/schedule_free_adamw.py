# Schedule-Free AdamW (Defazio et al., 2024, "The Road Less Scheduled"), as
# optax.contrib.schedule_free_adamw(lr) at a constant learning rate, without warmup: b1 0.9,
# b2 0.999, eps 1e-8, weight_lr_power 2, no weight decay. z takes RMS-normalized gradient steps
# (bias-corrected second moment v, no momentum); x is the average of the z's with weights
# lr_max^2 (c = lr_max^2 / s, s their running sum); the weights w the optimizer sets, where the
# gradients are taken, are y = 0.9 x + 0.1 z, and the model is evaluated at
# x = (y - 0.1 z) / 0.9 (optax.contrib.schedule_free_eval_params), computed from the values on
# entry to a step. z starts at the weights (set at t = 1), as optax initialises it to the
# params; lr_max (the largest lr so far) and s are scalar slots, so the memory cost is 2.
# With a schedule, optax reads it at count + 1 and this program at count.
# hyperparameters: b1 = 0.9, b2 = 0.999, eps = 1e-8
# derived: 0.1 = 1 - b1
def schedule_free_adamw(w, g, lr, t, z, v, lr_max, s):
    z = where(t == 1, w, z)
    x = (w - 0.1 * z) / 0.9
    lr_max = max(lr_max, lr)
    s = s + lr_max ** 2
    v = interp(square(g), v, 0.999)
    z = z - lr * g / (sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    x_new = interp(x, z, lr_max ** 2 / s)
    return w - interp(z, x_new, 0.9), z, v, lr_max, s, eval_at(x)
