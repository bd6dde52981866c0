"""Typed run settings (data, objective, optimizers, accel, search, retrain), torch-free; YAML, dicts, overrides."""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

GanMode = Literal["lsgan", "vanilla"]
#: A search scheme: a name in engine/strategies.STRATEGIES, checked when a config is built (see scheme_names).
Scheme = typing.NewType("Scheme", str)
MixedOpMode = Literal["merged", "reference"]
DiscriminatorKind = Literal["patchgan", "searched"]


def scheme_names() -> tuple[str, ...]:
    """The search schemes a config may name: the keys of engine/strategies.STRATEGIES, the one list of them.

    Imported when a scheme is checked, not when this module is, so that importing the config stays torch-free;
    a scheme added to that module (or registered with register_strategy) is valid everywhere at once."""
    from nasplatform.engine.strategies import STRATEGIES

    return tuple(STRATEGIES)


class ConfigError(ValueError):
    """A config key that is unknown or holds a bad value; `key` is its dotted path (e.g. "optim.lr")."""

    def __init__(self, key: str, reason: str, source: str | None = None):
        self.key, self.reason, self.source = key, reason, source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{key}: {reason}" if key else f"{where}{reason}")

    def under(self, prefix: str) -> ConfigError:
        """The same error seen from the config that holds this one's section at `prefix`."""
        return ConfigError(_join(prefix, self.key), self.reason, self.source)

    def in_file(self, source: str | Path) -> ConfigError:
        return ConfigError(self.key, self.reason, str(source))


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix and key else prefix or key


# ---------------------------------------------------------------- type checking


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    """Resolved annotations (the modules use `from __future__ import annotations`) of the init fields of `cls`."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """`value` checked against the annotation `tp` (and made canonical: int -> float, list -> tuple)."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return value if isinstance(value, tp) else from_dict(tp, value, prefix=key)
    if origin in (Union, types.UnionType):
        return _coerce_union(value, typing.get_args(tp), key)
    if origin is Literal:
        return _coerce_literal(value, typing.get_args(tp), key)
    if tp is Scheme:
        return _coerce_literal(value, scheme_names(), key)
    if tp is tuple or origin is tuple:
        return _coerce_tuple(value, typing.get_args(tp), key)
    if tp in _SCALARS:
        return _SCALARS[tp](value, key)
    if tp is Any:
        return value
    raise TypeError(f"{key}: config fields of type {tp!r} are not supported")


def _coerce_union(value: Any, options: tuple, key: str) -> Any:
    if value is None and type(None) in options:
        return None
    for option in options:
        if option is type(None):
            continue
        try:
            return _coerce(value, option, key)
        except ConfigError:
            pass
    names = " or ".join("null" if o is type(None) else getattr(o, "__name__", str(o)) for o in options)
    raise ConfigError(key, f"expected {names}, got {_describe(value)}")


def _coerce_literal(value: Any, choices: tuple, key: str) -> Any:
    # `type(...) is` so that True does not pass for 1 (bool is an int)
    if any(value == c and type(value) is type(c) for c in choices):
        return value
    hint = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
    suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
    raise ConfigError(key, f"must be one of {', '.join(repr(c) for c in choices)}, got {value!r}{suggestion}")


def _coerce_tuple(value: Any, args: tuple, key: str) -> tuple:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(key, f"expected a list, got {_describe(value)}")
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
    if not args:
        return tuple(value)
    if len(value) != len(args):
        raise ConfigError(key, f"expected a list of {len(args)} items, got {len(value)}")
    return tuple(_coerce(v, t, f"{key}[{i}]") for i, (v, t) in enumerate(zip(value, args)))


def _to_bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    raise ConfigError(key, f"expected true or false, got {_describe(value)}")


def _to_int(value: Any, key: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ConfigError(key, f"expected an integer, got {_describe(value)}")


def _to_float(value: Any, key: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    # PyYAML reads "1e-4" (no dot) as a string, so exponent notation arrives here as text
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ConfigError(key, f"expected a number, got {_describe(value)}")


def _to_str(value: Any, key: str) -> str:
    if isinstance(value, str):
        return value
    raise ConfigError(key, f"expected a string, got {_describe(value)}")


def _to_none(value: Any, key: str) -> None:
    if value is None:
        return None
    raise ConfigError(key, f"expected null, got {_describe(value)}")


_SCALARS = {bool: _to_bool, int: _to_int, float: _to_float, str: _to_str, type(None): _to_none}


# ---------------------------------------------------------------- dicts


def _unknown_key(cls: type, key: str, prefix: str) -> ConfigError:
    derived = getattr(cls, key, None)
    if isinstance(derived, property):  # RetrainConfig.epochs = n_epochs + n_epochs_decay
        return ConfigError(_join(prefix, key), f"is computed, not set: {(derived.__doc__ or '').strip()}")
    names = list(_field_types(cls))
    hints = difflib.get_close_matches(key, names, n=3)
    renamed = RENAMED_KEYS.get(cls.__name__, {})  # a typo of an old spelling: point to the new one
    hints += [renamed[old] for old in difflib.get_close_matches(key, list(renamed), n=1) if renamed[old] not in hints]
    # a leaf key given at the wrong level ("lr" instead of "optim.lr")
    hints += [p for p in _leaf_paths(cls) if p.rsplit(".", 1)[-1] == key and p != key]
    if hints:
        return ConfigError(
            _join(prefix, key), f"unknown key; did you mean {' or '.join(repr(_join(prefix, h)) for h in hints)}?"
        )
    return ConfigError(_join(prefix, key), f"unknown key; {cls.__name__} keys are: {', '.join(names)}")


def _leaf_paths(cls: type) -> list[str]:
    paths = []
    for name, tp in _field_types(cls).items():
        paths += [f"{name}.{p}" for p in _leaf_paths(tp)] if dataclasses.is_dataclass(tp) else [name]
    return paths


#: Keys renamed since configs were first saved, per config class: {old: new}. Run folders, checkpoints and plans
#: written before hold the old spelling; they are read as the new one (docs/formats.md, "Renamed keys"). A dotted
#: new name moves the key into a section: a spec stage's `epochs` is now a key of its `settings` (`settings.epochs`).
RENAMED_KEYS: dict[str, dict[str, str]] = {
    "RetrainConfig": {"hidden_dim": "hidden_dim_a"},
    "SearchStage": {"epochs": "settings.epochs", "hidden_dim": "settings.hidden_dim", "n_cells": "settings.n_cells"},
    "RetrainStage": {"n_epochs": "settings.n_epochs", "n_epochs_decay": "settings.n_epochs_decay"},
}


def migrate_keys(cls: type, data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`data` (the top level of a `cls` config) with renamed keys spelled as now; both spellings is an error."""
    out = dict(data)
    for old, new in RENAMED_KEYS.get(cls.__name__, {}).items():
        if old not in out:
            continue
        if new in flatten(out):
            raise ConfigError(_join(prefix, old), f"was renamed {new!r}, which is also given; keep only {new}")
        if "." in new:
            value = out.pop(old)
            section, rest = new.split(".", 1)
            out[section] = dict(out.get(section) or {})  # a copy: the caller's mapping stays as it was
            set_dotted(out[section], rest, value)
        else:
            out = {new if key == old else key: value for key, value in out.items()}
    return out


def migrate_tree(cls: type, data: Any, prefix: str = "") -> Any:
    """The raw mapping of a `cls` config with renamed keys spelled as now in it and its sections (nothing else is
    checked): overrides spelled either way then land on one key."""
    if not isinstance(data, Mapping):
        return data
    out = migrate_keys(cls, data, prefix)
    types_ = _field_types(cls)
    for key, value in out.items():
        if dataclasses.is_dataclass(types_.get(key)) and isinstance(value, Mapping):
            out[key] = migrate_tree(types_[key], value, _join(prefix, key))
    return out


def from_dict(cls: type, data: Mapping[str, Any] | None, *, prefix: str = ""):
    """An instance of the dataclass `cls` from a (nested) mapping; keys left out keep their defaults.

    `prefix` is the dotted path of `data` inside a larger config, used only in error messages.
    """
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"from_dict needs a dataclass type, got {cls!r}")
    if data is None:  # an empty YAML section ("loss:") reads as None
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(prefix, f"expected a mapping of {cls.__name__} keys, got {_describe(data)}")
    types_ = _field_types(cls)
    kwargs = {}
    for key, value in migrate_keys(cls, data, prefix).items():
        if key not in types_:
            raise _unknown_key(cls, str(key), prefix)
        kwargs[key] = _coerce(value, types_[key], _join(prefix, key))
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise exc.under(prefix) from None
    except (TypeError, ValueError) as exc:
        raise _foreign_error(cls, exc, prefix) from None


def _foreign_error(cls: type, exc: Exception, prefix: str) -> ConfigError:
    """A plain ValueError/TypeError from a dataclass's own checks, keyed by the field it names ("cache: ...")."""
    message = str(exc)
    name, sep, rest = message.partition(":")
    if sep and name.strip() in _field_types(cls):
        return ConfigError(_join(prefix, name.strip()), rest.strip())
    return ConfigError(prefix or cls.__name__, message)


def to_dict(cfg: Any) -> Any:
    """The resolved config as plain YAML-ready data (nested dicts, lists for tuples)."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg) if f.init}
    if isinstance(cfg, (list, tuple)):
        return [to_dict(v) for v in cfg]
    return cfg


# -------------------------------------------------- dotted keys: the one flattener, setter and override parser
# (the CLI's --set, a spec's --set and a spec stage's settings all go through these)


def flatten(data: Mapping, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as {dotted key: leaf value}, in order (a later spelling of a key wins); an empty mapping has
    no leaves."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = _join(prefix, str(key))
        if isinstance(value, Mapping):
            flat.update(flatten(value, name))
        else:
            flat[name] = value
    return flat


def set_dotted(data: dict, key: str, value: Any) -> None:
    """Set `value` at the dotted `key` of nested mappings, making sections that are missing or empty (an empty YAML
    section reads as None); where the rest of the key is already spelled flat (`optim.lr: 1e-4` in a spec stage's
    settings) it is replaced as spelled, so the new value wins."""
    parts = key.split(".")
    target = data
    for depth, part in enumerate(parts[:-1]):
        rest = ".".join(parts[depth:])
        if rest in target:
            target[rest] = value
            return
        if target.get(part) is None:
            target[part] = {}
        target = target[part]
        if not isinstance(target, dict):
            raise ConfigError(".".join(parts[: depth + 1]), f"is a value, not a section; cannot set {key!r}")
    target[parts[-1]] = value


EXPONENT_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def yaml_number(value: Any) -> Any:
    """PyYAML (YAML 1.1) reads `1e-4` (no dot) as a string: such strings become floats."""
    return float(value) if isinstance(value, str) and EXPONENT_NUMBER.fullmatch(value) else value


def _field_type_at(cls: type, parts: list[str]) -> Any:
    """The annotation of the field at a dotted path, with an unknown-key error naming the whole path; below a field
    typed Any (a spec stage's `settings`, checked when its engine config is built) every key is Any."""
    tp: Any = cls
    for depth, part in enumerate(parts):
        prefix = ".".join(parts[:depth])
        if tp is Any:
            return Any
        if not dataclasses.is_dataclass(tp):
            raise ConfigError(prefix, f"is a value, not a section; cannot set {'.'.join(parts)!r}")
        if part not in _field_types(tp):
            raise _unknown_key(tp, part, prefix)
        tp = _field_types(tp)[part]
    return tp


def _renamed(cls: type, parts: list[str]) -> list[str]:
    """A dotted key's parts with each renamed field (RENAMED_KEYS) spelled as now (a moved one as its new path)."""
    out: list[str] = []
    tp: Any = cls
    for i, part in enumerate(parts):
        if not dataclasses.is_dataclass(tp):
            return out + parts[i:]
        part = RENAMED_KEYS.get(tp.__name__, {}).get(part, part)
        out += part.split(".")
        tp = _field_types(tp).get(part) if "." not in part else Any
    return out


def _read_value(raw: str, tp: Any, key: str) -> Any:
    """`raw` read as YAML, falling back to the literal text (so `data.root=2024` or `cache=off` stay strings)."""
    try:
        parsed = yaml_number(yaml.safe_load(raw))
    except yaml.YAMLError:
        parsed = raw
    try:
        return _coerce(parsed, tp, key)
    except ConfigError as first:
        if parsed == raw:
            raise
        try:
            return _coerce(raw, tp, key)
        except ConfigError:
            raise first from None


def apply_overrides(base: Any, overrides: Iterable[str], cls: type | None = None) -> Any:
    """`base` with each "dotted.key=value" applied in order; the one override parser of the CLI and the specs.

    base: a config object (the result is a new, checked object of its type), or the raw mapping of a `cls` (a spec
    as read from YAML; the result is that mapping, checked once all is in: a spec is shrunk by --smoke between).
    Keys are checked against the fields of the type (unknown key: did-you-mean); values are read as YAML and
    checked against the field's type.
    """
    is_mapping = isinstance(base, Mapping)
    if is_mapping and cls is None:
        raise TypeError("apply_overrides on a mapping needs the type it is for (cls)")
    cls, data = (cls, migrate_tree(cls, base)) if is_mapping else (type(base), to_dict(base))
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or not all(key.split(".")):
            raise ConfigError(item, "an override must look like key=value, e.g. optim.lr=1e-4")
        key = ".".join(_renamed(cls, key.split(".")))
        value = _read_value(raw.strip(), _field_type_at(cls, key.split(".")), key)
        set_dotted(data, key, to_dict(value))
    return data if is_mapping else from_dict(cls, data)


def read_yaml(path: str | Path, what: str = "config file") -> Any:
    """The YAML data in the file at `path`; unreadable, non-UTF-8 or bad YAML is a ConfigError naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("", f"cannot read {what} ({exc.strerror})", str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            "",
            f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); save the file as UTF-8",
            str(path),
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError("", f"not valid YAML ({exc})", str(path)) from None


def load_yaml(cls: type, path: str | Path, overrides: Iterable[str] = ()):
    """`cls` from the YAML file at `path`, then the dotted `overrides`; errors name the file and key."""
    try:
        cfg = from_dict(cls, read_yaml(path))
    except ConfigError as exc:
        raise (exc if exc.source else exc.in_file(path)) from None
    return apply_overrides(cfg, overrides)


def save_yaml(cfg: Any, path: str | Path) -> None:
    """Write the resolved config; `load_yaml(type(cfg), path)` gives back an equal object."""
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False), encoding="utf-8")


# ---------------------------------------------------------------- the config dataclasses


class _Config:
    """Shared behaviour: field types are checked on construction, then `validate()` checks value ranges."""

    def __post_init__(self) -> None:
        for name, tp in _field_types(type(self)).items():
            # frozen dataclasses: canonical values (int -> float, list -> tuple) are stored this way
            object.__setattr__(self, name, _coerce(getattr(self, name), tp, name))
        self.validate()

    def validate(self) -> None:
        """Value-range checks; raise ConfigError naming the key."""

    def to_dict(self) -> dict:
        return to_dict(self)

    def save_yaml(self, path: str | Path) -> None:
        save_yaml(self, path)


def _at_least(cfg: Any, name: str, low: float) -> None:
    value = getattr(cfg, name)
    if value is not None and not value >= low:
        raise ConfigError(name, f"must be >= {low}, got {value!r}")


def _positive(cfg: Any, name: str) -> None:
    value = getattr(cfg, name)
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(name, f"must be a finite number > 0, got {value!r}")


def _beta(cfg: Any, name: str) -> None:
    value = getattr(cfg, name)
    if not 0.0 <= value < 1.0:
        raise ConfigError(name, f"must be in [0, 1), got {value!r}")


#: What torch.device accepts ("type" or "type:index", no leading zeros), checked without importing torch so that
#: configs load where torch is absent or slow to import; tests/test_engine_config.py holds it against torch.
DEVICE_PATTERN = re.compile(
    r"(cpu|cuda|ipu|xpu|mkldnn|opengl|opencl|ideep|hip|ve|fpga|maia|xla|lazy|vulkan|mps|meta|hpu"
    r"|mtia|privateuseone)(:(0|[1-9][0-9]*))?"
)


def _device(cfg: Any) -> None:
    if not (isinstance(cfg.device, str) and DEVICE_PATTERN.fullmatch(cfg.device)):
        raise ConfigError("device", f"not a torch device: {cfg.device!r} (e.g. 'cpu', 'cuda', 'cuda:1')")


def _image_size(cfg: Any) -> None:
    # generators downsample by 4 and discriminators by 8; odd intermediate sizes would misalign mixed-op members
    if cfg.data.crop_size % 8:
        raise ConfigError("data.crop_size", f"must be a multiple of 8, got {cfg.data.crop_size}")
    # imported here: the limit follows from the op set (the widest padding), i.e. from network code, which this
    # module must not load on import (docs/design.md §1)
    from nasplatform.nets.layout import min_image_size

    limit = min_image_size()
    if cfg.data.crop_size < limit.size:
        raise ConfigError("data.crop_size", f"must be at least {limit.size} ({limit.reason}), got {cfg.data.crop_size}")


#: numpy's legacy seeding (np.random.seed) takes 0 .. 2**32 - 1
MAX_SEED = 2**32 - 1


def _seed(cfg: Any) -> None:
    if not 0 <= cfg.seed <= MAX_SEED:
        raise ConfigError("seed", f"must be in 0..{MAX_SEED} (2**32 - 1), got {cfg.seed}")


def _cache(cfg: Any) -> None:
    # a run passes no cache folder of its own, so a memory-mapped cache needs one in the config
    if cfg.data.cache == "mmap" and not cfg.data.cache_dir:
        raise ConfigError(
            "data.cache_dir",
            "data.cache=mmap needs a folder for the memory-mapped images: "
            "set data.cache_dir=DIR, or use data.cache=memory",
        )


def _check_run_fields(cfg: Any) -> None:
    """The checks every run config (SearchConfig, RetrainConfig) shares: widths, seed, batching, cadences, data..."""
    for name, low in (
        ("ndf", 1),
        ("seed", 0),
        ("batch_size", 1),
        ("checkpoint_every", 1),
        ("sample_every", 1),
        ("max_iters_per_epoch", 1),
        ("threads", 1),
    ):
        _at_least(cfg, name, low)
    _seed(cfg)
    _image_size(cfg)
    _cache(cfg)
    _device(cfg)


def check_device_available(device: str) -> None:
    """Refuse a device this machine lacks, before a run creates anything (not a config check: a config names
    the device of the machine that runs it, which may not be the one that wrote it)."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(
                "device",
                f"{device!r} asked, but this machine has no usable CUDA GPU "
                "(torch.cuda.is_available() is False); use device=cpu",
            )
        if dev.index is not None and dev.index >= count:
            raise ConfigError(
                "device", f"{device!r} asked, but this machine has {count} CUDA GPU(s) (cuda:0..cuda:{count - 1})"
            )
    elif dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ConfigError("device", f"{device!r} asked, but MPS is not available on this machine; use device=cpu")


def with_absolute_paths(cfg: Any) -> Any:
    """`cfg` with its file and folder paths made absolute (data.root, data.cache_dir, a genotypes.json), so
    that the saved config still finds them when the run is resumed from another working folder."""

    def absolute(path: str) -> str:
        return str(Path(path).expanduser().resolve()) if path else path

    data = dataclasses.replace(cfg.data, root=absolute(cfg.data.root), cache_dir=absolute(cfg.data.cache_dir))
    changes: dict[str, Any] = {"data": data}
    genotypes = getattr(cfg, "genotypes", None)
    if genotypes and (genotypes.endswith(".json") or "/" in genotypes) and Path(genotypes).expanduser().exists():
        changes["genotypes"] = absolute(genotypes)
    return dataclasses.replace(cfg, **changes)


BAD_IMAGE_POLICIES = ("error", "skip")
CACHE_KINDS = ("memory", "mmap", "none")


@dataclass(frozen=True)
class DataConfig(_Config):
    """Where the images are and how a training item is made from them.

    `root` holds the CycleGAN layout `{trainA,trainB,testA,testB}`. Training items are resized to
    `load_size`, randomly cropped to `crop_size` and randomly flipped (CycleGAN's `resize_and_crop`
    with `--load_size 286 --crop_size 256`); test items are resized to `crop_size`.
    `cache`: "memory" keeps decoded uint8 images in RAM, "mmap" in a memory-mapped .npy under a cache
    directory (`cache_dir`, or the one the caller passes), "none" decodes on every access.
    `max_images` keeps the first N images of each domain (sorted order), for smoke runs.
    """

    root: str = ""
    load_size: int = 286
    crop_size: int = 256
    flip: bool = True
    on_bad_image: str = "error"
    cache: str = "memory"
    max_images: int | None = None
    cache_dir: str = ""

    def validate(self) -> None:
        if self.on_bad_image not in BAD_IMAGE_POLICIES:
            raise ConfigError("on_bad_image", f"expected one of {BAD_IMAGE_POLICIES}, got {self.on_bad_image!r}")
        if self.cache not in CACHE_KINDS:
            raise ConfigError("cache", f"expected one of {CACHE_KINDS}, got {self.cache!r}")
        if self.crop_size < 1 or self.load_size < 1:
            raise ConfigError(
                "crop_size", f"load_size and crop_size must be positive, got {self.load_size} and {self.crop_size}"
            )
        if self.crop_size > self.load_size:
            raise ConfigError("crop_size", f"crop_size ({self.crop_size}) must not exceed load_size ({self.load_size})")
        if self.max_images is not None and self.max_images < 1:
            raise ConfigError("max_images", f"expected a positive count or null, got {self.max_images}")


def load_size_for(crop_size: int) -> int:
    """CycleGAN's load 286 -> crop 256 ratio at any crop size (72 for 64, 36 for 32)."""
    return int(round(crop_size * 286 / 256))


@dataclass(frozen=True)
class AccelConfig(_Config):
    """How the networks execute; every switch is off by default, which is the safe choice on CPU.

    channels_last: 4-D parameters and input batches in NHWC memory format (tensor-core convolutions on GPUs).
    bf16: the networks' forward passes run under bfloat16 autocast; their outputs come back in float32, so every
        loss term (Ladv, Lcyc, Lidt and the discriminators' losses) is computed in float32. Allowed on CPU, where
        it is slow without native bf16 instructions.
    compile: each network's forward is compiled in place with torch.compile (state-dict keys stay unchanged).
    cudnn_benchmark: cuDNN times its convolution algorithms per input shape and keeps the fastest; with fixed
        crop sizes this pays after the first iterations. No effect on CPU.
    """

    channels_last: bool = False
    bf16: bool = False
    compile: bool = False
    cudnn_benchmark: bool = False


@dataclass(frozen=True)
class LossConfig(_Config):
    """Weights of L = l1*Ladv(G_A,D_B) + l2*Ladv(G_B,D_A) + l3*Lcyc + l4*Lidt(G_A) + l5*Lidt(G_B) (paper §3.3).

    lambda_adv_a = lambda_1, lambda_adv_b = lambda_2, lambda_cyc = lambda_3, lambda_idt_a = lambda_4,
    lambda_idt_b = lambda_5; defaults (1, 1, 10, 5, 5). The identity weights are absolute (official CycleGAN:
    lambda_A * lambda_identity = 10 * 0.5). gan_mode: "lsgan" (CycleGAN's default) or "vanilla" (paper Eq. 1).
    pool_size: the image pool feeding the discriminators (0 = no pool).
    """

    gan_mode: GanMode = "lsgan"
    lambda_adv_a: float = 1.0
    lambda_adv_b: float = 1.0
    lambda_cyc: float = 10.0
    lambda_idt_a: float = 5.0
    lambda_idt_b: float = 5.0
    pool_size: int = 50

    def validate(self) -> None:
        for name in ("lambda_adv_a", "lambda_adv_b", "lambda_cyc", "lambda_idt_a", "lambda_idt_b"):
            _at_least(self, name, 0.0)
            if not math.isfinite(getattr(self, name)):
                raise ConfigError(name, f"must be finite, got {getattr(self, name)!r}")
        _at_least(self, "pool_size", 0)


@dataclass(frozen=True)
class OptimConfig(_Config):
    """Adam for the network weights w (lr, beta1, beta2) and, in two-step schemes, for the alphas (arch_*, DARTS).

    of_alpha_lr: OF only, the lr of the alphas' own parameter group in the one G and one D Adam; None = lr (the
    paper's single optimizer). At lr 2e-4 an alpha moves at most ~2e-4 per Adam step, so a search of a few
    hundred steps ends near uniform; short CPU searches use 0.1 (docs/design.md §4, experiments/quickstart.yaml).
    """

    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    of_alpha_lr: float | None = None
    arch_lr: float = 3e-4
    arch_beta1: float = 0.5
    arch_beta2: float = 0.999
    arch_weight_decay: float = 1e-3

    def validate(self) -> None:
        _positive(self, "lr")
        _positive(self, "arch_lr")
        if self.of_alpha_lr is not None:
            _positive(self, "of_alpha_lr")
        for name in ("beta1", "beta2", "arch_beta1", "arch_beta2"):
            _beta(self, name)
        _at_least(self, "arch_weight_decay", 0.0)


@dataclass(frozen=True)
class RunConfig(_Config):
    """What every training run (SearchConfig, RetrainConfig) has: its data, objective and optimizers, ndf = D
    (the discriminators' base width), seed, batching, cadences
    (checkpoint_every, sample_every), max_iters_per_epoch (cap on iterations per epoch; None = one pass over the
    data), the device and how the networks execute on it (accel: channels_last, bf16 autocast, torch.compile,
    cudnn.benchmark), and threads (torch threads; None = the caller's: the CLI's default, one per allowed CPU idle
    at start, see engine/threads.py; a Tune trial's CPUs; not part of a run's identity: a run may be resumed with
    another value)."""

    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    ndf: int = 64
    seed: int = 0
    batch_size: int = 1
    checkpoint_every: int = 1
    sample_every: int = 1
    max_iters_per_epoch: int | None = None
    device: str = "cpu"
    accel: AccelConfig = field(default_factory=AccelConfig)
    threads: int | None = None

    def validate(self) -> None:
        _check_run_fields(self)


@dataclass(frozen=True)
class SearchConfig(RunConfig):
    """One architecture search (paper Algorithm 1); the fields every run has are RunConfig's.

    scheme: OF (one-step, single-level) or TF / TH / THS (two-step, bi-level). n_cells = N (cells per generator,
    C_1^e .. C_N^d); hidden_dim = H of both supernet generators (their base width, ngf; paper: 16).
    swap_epoch: THS only, the epoch at which the two data halves swap roles (None = epochs // 2).
    gumbel*: optional Gumbel-softmax mixing with temperature annealed from gumbel_tau_start to gumbel_tau_end.
    alpha_lr_decay_epochs: the alphas' learning rate falls linearly over the last so many epochs, by CycleGAN's
    rule (engine/search.alpha_lr_factor); 0 = constant, the paper's. Lets a short search settle its argmax.
    decide_from_epoch, decide_by_epoch: greedy decisions (SGAS-style; 0, 0 = none, the paper's): at the end of each
    epoch from decide_from_epoch to decide_by_epoch, an equal share of the still-mixing ops of the four networks, the
    most certain first (lowest normalised alpha entropy), is fixed to its argmax candidate; all are fixed by the end
    of decide_by_epoch, and the remaining epochs train the weights of the decided networks.
    """

    scheme: Scheme = "OF"
    epochs: int = 400
    n_cells: int = 11
    hidden_dim: int = 16
    mixed_op_mode: MixedOpMode = "merged"
    gumbel: bool = False
    gumbel_tau_start: float = 5.0
    gumbel_tau_end: float = 0.1
    swap_epoch: int | None = None
    alpha_lr_decay_epochs: int = 0
    decide_from_epoch: int = 0
    decide_by_epoch: int = 0

    def validate(self) -> None:
        _at_least(self, "epochs", 1)
        if (self.decide_from_epoch == 0) != (self.decide_by_epoch == 0):
            raise ConfigError(
                "decide_from_epoch" if self.decide_from_epoch == 0 else "decide_by_epoch",
                "greedy decisions need both decide_from_epoch and decide_by_epoch (or neither: 0, 0)",
            )
        if self.decide_by_epoch and not 1 <= self.decide_from_epoch <= self.decide_by_epoch <= self.epochs:
            raise ConfigError(
                "decide_by_epoch",
                f"need 1 <= decide_from_epoch ({self.decide_from_epoch}) <= decide_by_epoch ({self.decide_by_epoch})"
                f" <= epochs ({self.epochs})",
            )
        if not 0 <= self.alpha_lr_decay_epochs <= self.epochs:
            raise ConfigError(
                "alpha_lr_decay_epochs", f"must be within 0..epochs ({self.epochs}), got {self.alpha_lr_decay_epochs}"
            )
        _at_least(self, "n_cells", 3)
        _at_least(self, "hidden_dim", 1)
        _positive(self, "gumbel_tau_start")
        _positive(self, "gumbel_tau_end")
        if self.swap_epoch is not None and not 1 <= self.swap_epoch <= self.epochs:
            raise ConfigError("swap_epoch", f"must be within 1..epochs ({self.epochs}), got {self.swap_epoch}")
        super().validate()


@dataclass(frozen=True)
class RetrainConfig(RunConfig):
    """Retraining of derived (or named) genotypes from scratch, like CycleGAN (paper §4); the fields every run has
    are RunConfig's.

    genotypes: a named genotype ("cyclegan") or a path to a genotypes.json. hidden_dim_a = H of G_A, hidden_dim_b = H
    of G_B (None = same as hidden_dim_a), as in the results table; an old `hidden_dim` is read as hidden_dim_a.
    n_epochs at constant lr, then n_epochs_decay of linear decay to 0; `epochs` is their sum, the total that
    SearchConfig.epochs and both commands' --epochs also mean.
    val_fraction: share of train held out for model selection; val_every: validate every so many epochs
    (0 = only at the end).
    """

    genotypes: str = "cyclegan"
    hidden_dim_a: int = 64
    hidden_dim_b: int | None = None
    discriminator: DiscriminatorKind = "patchgan"
    n_epochs: int = 100
    n_epochs_decay: int = 100
    val_fraction: float = 0.0
    val_every: int = 0

    @property
    def epochs(self) -> int:
        """n_epochs + n_epochs_decay, all epochs of the run (SearchConfig.epochs counts the same); set those two."""
        return self.n_epochs + self.n_epochs_decay

    def validate(self) -> None:
        if not self.genotypes.strip():
            raise ConfigError("genotypes", "must name a genotype (e.g. 'cyclegan') or a genotypes.json path")
        _at_least(self, "hidden_dim_a", 1)
        _at_least(self, "hidden_dim_b", 1)
        for name in ("n_epochs", "n_epochs_decay", "val_every"):
            _at_least(self, name, 0)
        if self.n_epochs + self.n_epochs_decay < 1:
            raise ConfigError("n_epochs", "n_epochs + n_epochs_decay must be >= 1")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError("val_fraction", f"must be in [0, 1), got {self.val_fraction!r}")
        super().validate()
