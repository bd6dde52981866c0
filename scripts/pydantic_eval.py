"""Measures whether pydantic v2 should validate the run configs (issue 15.1): import cost, validation cost, errors.

Prints one JSON object: cold import times (median of subprocess runs) of engine/config.py and of pydantic, the
time to build a SearchConfig from a nested dict with each, and the error each gives for the same bad inputs.
The pydantic model mirrors SearchConfig's fields that the bad inputs touch (data section, scheme, epochs, lr).

    python scripts/pydantic_eval.py
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from typing import Literal

REPEATS = 7


def cold_import_ms(module: str) -> float:
    """Median wall time of `import module` in a fresh interpreter, minus that of an empty interpreter."""

    def run(code: str) -> float:
        times = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    return round(1000 * (run(f"import {module}") - run("pass")), 1)


def pydantic_model():
    from pydantic import BaseModel, ConfigDict, Field

    class Data(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        root: str = ""
        load_size: int = 286
        crop_size: int = 256
        flip: bool = True
        max_images: int | None = None

    class Optim(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        lr: float = Field(2e-4, gt=0)

    class Search(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        data: Data = Data()
        optim: Optim = Optim()
        scheme: Literal["OF", "TF", "TH", "THS"] = "OF"
        epochs: int = Field(400, ge=1)
        hidden_dim: int = 16

    return Search


BAD = {
    "unknown key": {"epoch": 3},
    "key at the wrong level": {"lr": 1e-3},
    "typo in a choice": {"scheme": "THX"},
    "number as text": {"epochs": "3"},
    "yes for a bool": {"data": {"flip": "yes"}},
    "out of range": {"epochs": 0},
    "nested unknown key": {"data": {"crop": 64}},
}


def errors() -> dict:
    from pydantic import ValidationError

    from nasplatform.engine.config import ConfigError, SearchConfig, from_dict

    model = pydantic_model()
    out = {}
    for name, data in BAD.items():
        try:
            from_dict(SearchConfig, data)
            ours = "accepted"
        except ConfigError as exc:
            ours = str(exc)
        try:
            model.model_validate(data)
            theirs = "accepted"
        except ValidationError as exc:
            theirs = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        out[name] = {"input": data, "engine": ours, "pydantic": theirs}
    return out


def validate_us(n: int = 2000) -> dict:
    from nasplatform.engine.config import SearchConfig, from_dict

    model = pydantic_model()
    data = {"data": {"root": "x", "crop_size": 64, "load_size": 72}, "scheme": "TF", "epochs": 3, "optim": {"lr": 1e-3}}
    model.model_validate(data), from_dict(SearchConfig, data)  # warm: the crop check imports torch once
    start = time.perf_counter()
    for _ in range(n):
        model.model_validate(data)
    theirs = (time.perf_counter() - start) / n
    start = time.perf_counter()
    for _ in range(n // 10):
        from_dict(SearchConfig, data)
    ours = (time.perf_counter() - start) / (n // 10)
    return {"engine_us": round(1e6 * ours, 1), "pydantic_partial_model_us": round(1e6 * theirs, 1)}


if __name__ == "__main__":
    print(
        json.dumps(
            {
                "cold_import_ms": {
                    "nasplatform.engine.config": cold_import_ms("nasplatform.engine.config"),
                    "pydantic": cold_import_ms("pydantic"),
                    "pydantic.BaseModel": cold_import_ms("pydantic.main"),
                },
                "validate_one_search_config": validate_us(),
                "errors": errors(),
            },
            indent=1,
        )
    )
