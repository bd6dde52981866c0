"""Checkpoint files: atomic writes, loads that cannot run code (weights_only), and the RNG states to resume exactly."""

from __future__ import annotations

import collections
import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nasplatform.atomic import atomic_write

# What torch.load(weights_only=True) accepts without an allow-list; anything else fails only when loading,
# so save_checkpoint refuses it up front, naming where in the state it sits.
_LEAF_TYPES = (bool, int, float, complex, str, bytes, type(None), torch.Size, torch.dtype, torch.device)
_TENSOR_TYPES = (torch.Tensor, torch.nn.Parameter)
_CONTAINER_TYPES = (dict, collections.OrderedDict, list, tuple, set)


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read: missing, truncated, corrupt, or holding objects that could run code."""


def _check_loadable(obj: Any, where: str) -> None:
    kind = type(obj)
    if kind in _LEAF_TYPES or kind in _TENSOR_TYPES:
        return
    if kind not in _CONTAINER_TYPES:
        raise TypeError(
            f"checkpoint {where} is a {kind.__module__}.{kind.__qualname__}, which "
            "torch.load(weights_only=True) refuses; store tensors, numbers, str or containers of them"
        )
    if isinstance(obj, dict):
        for key, value in obj.items():
            _check_loadable(key, f"{where} (key {key!r})")
            _check_loadable(value, f"{where}[{key!r}]")
    else:
        for i, value in enumerate(obj):
            _check_loadable(value, f"{where}[{i}]")


def save_checkpoint(path: str | Path, state: dict) -> None:
    """Write `state` with torch.save to a temp file beside `path`, fsync it, then os.replace it into place.

    A failure at any point leaves the previous file at `path` as it was (and no temp file behind).
    """
    if not isinstance(state, dict):
        raise TypeError(f"checkpoint state for {path} must be a dict, got {type(state).__name__}")
    _check_loadable(state, "state")
    atomic_write(path, lambda f: torch.save(state, f))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """The state saved at `path`, loaded with weights_only=True so that the file cannot run code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch reports truncation/corruption as RuntimeError, EOFError, UnpicklingError...
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"checkpoint {path} is truncated, corrupt or unsafe to load: {first_line}") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, not a state dict")
    return state


def capture_rng_state() -> dict:
    """The global RNG states of Python `random`, NumPy and torch (CPU, and every CUDA device when present).

    Encoded as tensors, numbers and str so that a weights_only load accepts them.
    """
    version, internal, gauss_next = random.getstate()
    bit_generator, keys, pos, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    return {
        "python": {"version": version, "internal": torch.tensor(internal, dtype=torch.int64), "gauss_next": gauss_next},
        "numpy": {
            "bit_generator": str(bit_generator),
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng_state(state: dict) -> None:
    """Undo `capture_rng_state`: later random draws repeat those that followed the capture."""
    missing = {"python", "numpy", "torch", "cuda"} - state.keys()
    if missing:
        raise ValueError(f"RNG state lacks {sorted(missing)}")
    py = state["python"]
    random.setstate((int(py["version"]), tuple(int(x) for x in py["internal"].tolist()), py["gauss_next"]))
    npy = state["numpy"]
    keys = npy["keys"].cpu().numpy().astype(np.uint32)
    np.random.set_state(
        (npy["bit_generator"], keys, int(npy["pos"]), int(npy["has_gauss"]), float(npy["cached_gaussian"]))
    )
    torch.set_rng_state(state["torch"].cpu())
    _restore_cuda(list(state["cuda"]))


def _restore_cuda(states: list) -> None:
    if not states:
        return
    if not torch.cuda.is_available():
        warnings.warn(
            "the checkpoint holds CUDA RNG states but CUDA is not available here; they are not restored", stacklevel=2
        )
        return
    count = torch.cuda.device_count()
    if len(states) != count:
        warnings.warn(
            f"the checkpoint holds RNG states of {len(states)} CUDA devices, this machine has {count}; "
            "restoring the first ones only",
            stacklevel=2,
        )
    for index, cuda_state in enumerate(states[:count]):
        torch.cuda.set_rng_state(cuda_state.cpu(), index)
