"""The `data:` section of every run config; it lives in engine/config.py, which imports no torch (this package does)."""

from nasplatform.engine.config import BAD_IMAGE_POLICIES, CACHE_KINDS, DataConfig, load_size_for

__all__ = ["BAD_IMAGE_POLICIES", "CACHE_KINDS", "DataConfig", "load_size_for"]
