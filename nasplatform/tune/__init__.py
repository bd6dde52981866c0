"""Experiment grids on Ray Tune: specs, staged trials (search -> size matching -> retrain+evaluate), results.

Only `trainables` and `runner` import Ray; `spec`, `plan`, `storage`, `collect` and `status` work without it,
so a results table can be rebuilt on a machine that has no Ray cluster.
"""
