"""Programs as standalone optax and PyTorch modules."""
