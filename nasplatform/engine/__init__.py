"""The engine: data, the CycleGAN objective, search strategies, retraining, evaluation and checkpoints."""
