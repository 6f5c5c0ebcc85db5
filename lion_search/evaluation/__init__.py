"""Training programs on tasks: tasks, traced loops, the XLA environment, the interpreter, the multi-program trainer, fitness, portfolios, lr sweeps and calibration."""
