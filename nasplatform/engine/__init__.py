"""The engine: the CycleGAN objective, search strategies, the search/retrain/evaluate jobs, run config, checkpoints."""
