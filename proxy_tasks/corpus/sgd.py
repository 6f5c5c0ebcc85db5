# seed: programs/sgd.py
def sgd(w, g, lr, t):
    return lr * g
