"""Names of the search schemes, torch-free: configs, specs and the CLI check a scheme here without loading networks.

The strategies themselves (engine/strategies.py, `STRATEGIES`) register their names here when they are defined;
`BUILTIN_SCHEMES` lets a config name them before that module is imported (a test keeps the two equal).
"""

from __future__ import annotations

#: The paper's schemes (§3.3), in its order: one-step OF; two-step TF, TH, THS.
BUILTIN_SCHEMES: tuple[str, ...] = ("OF", "TF", "TH", "THS")

_names: list[str] = list(BUILTIN_SCHEMES)


def scheme_names() -> tuple[str, ...]:
    """Every scheme a config may name: the built-in ones, then those registered since, in registration order."""
    return tuple(_names)


def add_scheme_name(name: str) -> None:
    """Make `name` a valid `scheme` (strategies.register_strategy calls this; a built-in name is already there)."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a scheme name is a non-empty string, got {name!r}")
    if name not in _names:
        _names.append(name)


def remove_scheme_name(name: str) -> None:
    """Forget a scheme registered at run time (strategies.unregister_strategy); built-in names stay."""
    if name in _names and name not in BUILTIN_SCHEMES:
        _names.remove(name)
