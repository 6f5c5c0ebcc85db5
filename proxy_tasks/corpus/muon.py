# seed: programs/muon.py
def muon(w, g, lr, t, m, v):
    matrix = rank == 2
    b = where(matrix, 0.95, 0.9)
    m = interp(g, m, b)
    v = interp(square(g), v, 0.999)
    m_hat = b * (m / (1 - b ** (t + 1))) + (1 - b) * (g / (1 - b ** t))
    adam = m_hat / (sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    ortho = orthogonalize(m_hat) * sqrt(max(fan_out / fan_in, 1))
    return lr * where(matrix, ortho, adam), m, v
