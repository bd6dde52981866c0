"""The engine: the CycleGAN objective, search strategies, the search, retrain and evaluate jobs, run config and checkpoints."""
