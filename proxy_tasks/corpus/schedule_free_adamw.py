# seed: programs/schedule_free_adamw.py
def schedule_free_adamw(w, g, lr, t, z, v, lr_max, s):
    z = where(t == 1, w, z)
    x = (w - 0.1 * z) / 0.9
    lr_max = max(lr_max, lr)
    s = s + lr_max ** 2
    v = interp(square(g), v, 0.999)
    z = z - lr * g / (sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    x_new = interp(x, z, lr_max ** 2 / s)
    return w - interp(z, x_new, 0.9), z, v, lr_max, s, eval_at(x)
