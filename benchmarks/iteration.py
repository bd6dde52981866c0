"""One search iteration (supernets, OF: G and D steps, all losses) vs one discrete CycleGAN iteration: time, memory.

Run: `python -m benchmarks.iteration` (`--quick` for a smoke run; `--device cuda` on a GPU). Both sides run the
engine's own code: the search iteration is `OneStepFull.step` (or another scheme's `step`) on the four supernets
(G_A, G_B at hidden dim H, D_A, D_B at ndf), the discrete one is `cyclegan_step` on CycleGAN-genotype generators
(C_H, the official ResNet-9 at H=64) and PatchGAN discriminators; 256x256, batch 1 by default.

Times are medians of interleaved runs (a, b, a, b, ...): wall seconds and, on CPU, this process's CPU seconds, which a
busy machine disturbs far less; one torch thread by default on CPU (two OpenMP threads spin-wait for each other when
other jobs share the cores). Memory: on CPU the peak bytes autograd holds for backward (each storage once,
parameters excluded; see docs/design.md §3.5 on why not RSS); on GPU `torch.cuda.max_memory_allocated` during a step.
On CPU the result also holds the top costs of one search iteration (torch.profiler; `--no-profile` skips it).
No fixed target on CPU; on a GPU the targets are merged >= 1.5x the reference speed at <= 0.4x its peak memory.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import functools
import os
import sys
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch

from benchmarks.harness import interleaved_times, publish
from nasplatform.engine.accel import AccelConfig, autocast, configure_backends, prepare_networks, to_memory_format
from nasplatform.engine.config import LossConfig, SearchConfig, scheme_names
from nasplatform.engine.cyclegan_step import cyclegan_step
from nasplatform.engine.losses import GANLoss
from nasplatform.engine.pool import ImagePool
from nasplatform.engine.strategies import build_strategy
from nasplatform.nets.build import CycleGANNetworks, build_discrete, build_supernets, load_genotypes

#: Ops that do the convolutions themselves (forward, and both gradients in backward).
CONV_OPS = frozenset(
    {
        "aten::mkldnn_convolution",
        "aten::convolution_backward",
        "aten::_slow_conv2d_forward",
        "aten::_slow_conv2d_backward",
        "aten::slow_conv_transpose2d",
        "aten::slow_conv_dilated2d",
        "aten::cudnn_convolution",
        "aten::cudnn_convolution_transpose",
    }
)


@dataclass(frozen=True)
class Setting:
    """Where and how big: image side, N (n_cells), H (hidden_dim) of the generators, ndf of the discriminators."""

    image_size: int = 256
    n_cells: int = 11
    hidden_dim: int = 16
    ndf: int = 64
    device: str = "cpu"
    accel: AccelConfig = field(default_factory=AccelConfig)


@dataclass
class Step:
    """One iteration as a callable, with the networks it trains (for parameter counts and memory baselines)."""

    name: str
    run: Callable[[], None]
    nets: CycleGANNetworks


def random_batch(setting: Setting, seed: int) -> dict[str, torch.Tensor]:
    """A fixed pair of images in [-1, 1], as the data layer delivers them."""
    gen = torch.Generator().manual_seed(seed)
    size = setting.image_size
    batch = {k: torch.rand(1, 3, size, size, generator=gen) * 2 - 1 for k in ("a", "b")}
    return {k: to_memory_format(v.to(setting.device), setting.accel) for k, v in batch.items()}


def search_step(setting: Setting, mode: str = "merged", scheme: str = "OF", seed: int = 0) -> Step:
    """`scheme`'s real strategy step on four supernets; two-step schemes get a second batch for the alpha step."""
    torch.manual_seed(seed)
    size = setting.image_size
    cfg = SearchConfig(
        data={"crop_size": size, "load_size": size},
        scheme=scheme,
        n_cells=setting.n_cells,
        hidden_dim=setting.hidden_dim,
        ndf=setting.ndf,
        mixed_op_mode=mode,
        device=setting.device,
        accel=setting.accel,
    )
    nets = prepare_networks(build_supernets(cfg.n_cells, cfg.hidden_dim, cfg.ndf, mode), setting.accel, setting.device)
    strategy = build_strategy(nets, cfg)
    w_batch, alpha_batch = random_batch(setting, seed), random_batch(setting, seed + 1)
    alpha = alpha_batch if strategy.data_roles(1)[1] is not None else None
    return Step(f"{scheme}/{mode}", lambda: strategy.step(w_batch, alpha), nets)


def discrete_step(setting: Setting, hidden_dim: int, seed: int = 0) -> Step:
    """`cyclegan_step` on C_H generators (the CycleGAN genotype at H = hidden_dim) and PatchGAN discriminators."""
    torch.manual_seed(seed)
    nets = build_discrete(load_genotypes("cyclegan"), hidden_dim, hidden_dim, setting.ndf, "patchgan")
    nets = prepare_networks(nets, setting.accel, setting.device)
    opt_g = torch.optim.Adam([*nets.g_a.parameters(), *nets.g_b.parameters()], lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam([*nets.d_a.parameters(), *nets.d_b.parameters()], lr=2e-4, betas=(0.5, 0.999))
    loss = LossConfig()
    pools, gan = (
        (ImagePool(loss.pool_size, seed=seed), ImagePool(loss.pool_size, seed=seed + 1)),
        GANLoss(loss.gan_mode),
    )
    batch = random_batch(setting, seed)
    precision = functools.partial(autocast, setting.accel, setting.device)
    run = lambda: cyclegan_step(nets, opt_g, opt_d, pools, batch["a"], batch["b"], gan, loss, precision)  # noqa: E731
    return Step(f"C{hidden_dim}", run, nets)


def command_line(module: str, argv: list[str] | None) -> str:
    """How this result was produced, for PERFORMANCE.md."""
    return " ".join(["python -m", f"benchmarks.{module}", *(sys.argv[1:] if argv is None else argv)])


class _Saved:
    """What autograd keeps in place of a saved tensor; its death means the graph let the tensor go."""

    __slots__ = ("tensor", "__weakref__")

    def __init__(self, tensor: torch.Tensor):
        self.tensor = tensor


class SavedTensorPeak:
    """Peak bytes of the tensors autograd holds for backward at once (each storage once, `exclude`d ones not).

    Pass the parameters as `exclude`: they live anyway. Tensors count from when a forward saves them until the
    backward that used them frees its graph, so the G step's and the D step's graphs are counted as they overlap.
    """

    def __init__(self, exclude: Iterable[torch.Tensor] = ()):
        self.exclude = {p.untyped_storage().data_ptr() for p in exclude}
        self.live: dict[int, list[int]] = {}  # storage pointer -> [bytes, holders]
        self.current = self.peak = 0

    def _pack(self, t: torch.Tensor):
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr in self.exclude or storage.nbytes() == 0:
            return t
        entry = self.live.setdefault(ptr, [storage.nbytes(), 0])
        if entry[1] == 0:
            self.current += entry[0]
            self.peak = max(self.peak, self.current)
        entry[1] += 1
        holder = _Saved(t)
        weakref.finalize(holder, self._release, ptr)
        return holder

    def _release(self, ptr: int) -> None:
        entry = self.live[ptr]
        entry[1] -= 1
        if entry[1] == 0:
            self.current -= entry[0]
            del self.live[ptr]

    @staticmethod
    def _unpack(packed):
        return packed.tensor if isinstance(packed, _Saved) else packed

    def __enter__(self) -> SavedTensorPeak:
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._hooks.__exit__(*exc)


def _parameters(nets: CycleGANNetworks) -> list[torch.nn.Parameter]:
    return [p for _, net in nets.items() for p in net.parameters()]


def peak_memory(step: Step, device: str) -> dict[str, float]:
    """MB held during one step: saved-for-backward peak on CPU, allocator peak (and above baseline) on GPU."""
    params = _parameters(step.nets)
    figures = {"params_mb": sum(p.numel() * p.element_size() for p in params) / 1e6}
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step.run()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
        return {**figures, "peak_allocated_mb": peak / 1e6, "peak_above_baseline_mb": (peak - base) / 1e6}
    with SavedTensorPeak(exclude=params) as tracker:
        step.run()
    return {**figures, "peak_saved_mb": tracker.peak / 1e6}


def memory_key(device: str) -> str:
    """The figure compared between steps: what the step adds on top of what lives anyway."""
    return "peak_above_baseline_mb" if torch.device(device).type == "cuda" else "peak_saved_mb"


def _category(name: str, shapes: list, batch: int) -> str:
    first = next((s for s in shapes if s), [])
    if name in CONV_OPS:
        return "convolutions"
    if len(first) == 4:
        return "activation-side ops" if first[0] == batch else "kernel-side ops (weights, merged kernels)"
    return "small-tensor ops (biases, alphas, scalars)"


def profile_step(step: Step, top: int = 12) -> dict:
    """Self CPU time of one step by op and input shapes (top entries), and by category, from torch.profiler."""
    from torch.profiler import ProfilerActivity, profile

    step.run()  # warm: first-call allocations and oneDNN primitive creation are not the steady state
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        step.run()
    rows = prof.key_averages(group_by_input_shape=True)
    total = sum(r.self_cpu_time_total for r in rows) / 1e3
    categories: collections.Counter = collections.Counter()
    calls: collections.Counter = collections.Counter()
    for r in rows:
        cat = _category(r.key, r.input_shapes, batch=1)
        categories[cat] += r.self_cpu_time_total / 1e3
        calls[cat] += r.count
    optimizer = sum(e.cpu_time_total for e in prof.events() if e.name.startswith("Optimizer.step")) / 1e3
    ranked = sorted(rows, key=lambda r: r.self_cpu_time_total, reverse=True)[:top]
    return {
        "self_cpu_total_ms": round(total, 1),
        "ops_called": int(sum(calls.values())),
        "by_category": {
            k: {"ms": round(v, 1), "share": round(v / total, 3), "calls": calls[k]} for k, v in categories.most_common()
        },
        "optimizer_steps_ms": round(optimizer, 1),
        "top": [
            {
                "op": r.key,
                "shapes": str([s for s in r.input_shapes if s][:3]),
                "calls": r.count,
                "self_ms": round(r.self_cpu_time_total / 1e3, 1),
                "share": round(r.self_cpu_time_total / 1e3 / total, 3),
            }
            for r in ranked
        ],
    }


def build_steps(args: argparse.Namespace, base: Setting) -> dict[str, Step]:
    """Search steps for every (precision, mode) with OF, other schemes at the first ones, discrete C_H steps."""
    steps: dict[str, Step] = {}
    for precision in args.precisions:
        setting = dataclasses.replace(base, accel=dataclasses.replace(base.accel, bf16=precision == "bf16"))
        for mode in args.modes:
            step = search_step(setting, mode, "OF")
            steps[f"{step.name}/{precision}"] = step
        if precision == args.precisions[0]:
            for scheme in (s for s in args.schemes if s != "OF"):
                step = search_step(setting, args.modes[0], scheme)
                steps[f"{step.name}/{precision}"] = step
        for h in args.discrete_hidden_dims:
            step = discrete_step(setting, h)
            steps[f"{step.name}/{precision}"] = step
    return steps


def ratios(results: dict, args: argparse.Namespace, device: str) -> dict:
    """Search over discrete, merged over reference (speed and memory) and bf16 over fp32, where both were run."""
    out: dict[str, float] = {}
    mem = memory_key(device)
    for p in args.precisions:
        of = results.get(f"OF/merged/{p}")
        same_h = results.get(f"C{args.hidden_dim}/{p}")
        if of and same_h:
            out[f"search_over_discrete_same_h/{p}/wall"] = of["wall_s"] / same_h["wall_s"]
            out[f"search_over_discrete_same_h/{p}/cpu"] = of["cpu_s"] / same_h["cpu_s"]
        ref = results.get(f"OF/reference/{p}")
        if of and ref:
            out[f"merged_speedup_over_reference/{p}"] = ref["wall_s"] / of["wall_s"]
            out[f"merged_memory_over_reference/{p}"] = of[mem] / ref[mem]
    for mode in args.modes:
        fp32, bf16 = results.get(f"OF/{mode}/fp32"), results.get(f"OF/{mode}/bf16")
        if fp32 and bf16:
            out[f"bf16_speedup_over_fp32/{mode}"] = fp32["wall_s"] / bf16["wall_s"]
    return {k: round(v, 3) for k, v in out.items()}


def gpu_targets(rat: dict, device: str) -> dict[str, bool]:
    """The GPU targets of PERFORMANCE.md, judged only on a GPU (benchmarks/mixed_op.py holds the CPU targets)."""
    if torch.device(device).type != "cuda":
        return {}
    targets = {}
    for key, value in rat.items():
        if key.startswith("merged_speedup_over_reference/"):
            targets[f"{key}>=1.5"] = value >= 1.5
        if key.startswith("merged_memory_over_reference/"):
            targets[f"{key}<=0.4"] = value <= 0.4
    return targets


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="32x32, N=3, H=4, ndf=8, one repeat: a smoke run")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--n-cells", type=int, default=11, help="N of the generator supernets")
    parser.add_argument("--hidden-dim", type=int, default=16, help="H of the generator supernets (default 16)")
    parser.add_argument("--ndf", type=int, default=64)
    parser.add_argument("--modes", default="merged,reference", help="mixed-op modes, comma-separated (default both)")
    parser.add_argument("--precisions", default="fp32", help="comma-separated: fp32,bf16")
    parser.add_argument(
        "--schemes", default="OF", help=f"search schemes timed, comma-separated ({','.join(scheme_names())})"
    )
    parser.add_argument(
        "--discrete-hidden-dims",
        default=None,
        help="H of the discrete C_H iterations, comma-separated (default: --hidden-dim and 64)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: see PERFORMANCE.md on OpenMP spin-waits on a busy machine)",
    )
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--cudnn-benchmark", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile every network (slow first steps)")
    parser.add_argument("--no-profile", action="store_true", help="skip the profile of one search iteration")
    parser.add_argument("--name", default=None, help="results/<name>.json (default iteration[_quick|_gpu])")
    args = parser.parse_args(argv)
    if args.quick:
        args.image_size, args.n_cells, args.hidden_dim, args.ndf, args.repeats = 32, 3, 4, 8, 1
    args.modes = args.modes.split(",")
    args.precisions = args.precisions.split(",")
    args.schemes = args.schemes.split(",")
    dims = args.discrete_hidden_dims or (f"{args.hidden_dim}" if args.quick else f"{args.hidden_dim},64")
    args.discrete_hidden_dims = sorted({int(h) for h in dims.split(",")})
    for name, values, allowed in (
        ("--modes", args.modes, ("merged", "reference")),
        ("--precisions", args.precisions, ("fp32", "bf16")),
        ("--schemes", args.schemes, scheme_names()),
    ):
        if not set(values) <= set(allowed):
            parser.error(f"{name}: {','.join(values)} is not a list of {', '.join(allowed)}")
    return args


def result_name(args: argparse.Namespace) -> str:
    if args.name:
        return args.name
    if args.quick:
        return "iteration_quick"
    return "iteration_gpu" if torch.device(args.device).type == "cuda" else "iteration"


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    accel = AccelConfig(channels_last=args.channels_last, compile=args.compile, cudnn_benchmark=args.cudnn_benchmark)
    configure_backends(accel, args.device)
    base = Setting(args.image_size, args.n_cells, args.hidden_dim, args.ndf, args.device, accel)
    load_before = os.getloadavg()
    steps = build_steps(args, base)
    results = interleaved_times(
        {k: s.run for k, s in steps.items()}, args.device, args.repeats, args.warmup, desc="iterations"
    )
    for key, step in steps.items():
        results[key].update(peak_memory(step, args.device))
    rat = ratios(results, args, args.device)
    figures = {
        "command": command_line("iteration", argv),
        "setting": {
            **dataclasses.asdict(base),
            "accel": accel.to_dict(),
            "batch": 1,
            "repeats": args.repeats,
            "warmup": args.warmup,
            "quick": args.quick,
            "memory_figure": memory_key(args.device),
        },
        "load_avg_1min": {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)},
        "iterations": {k: {m: round(v, 4) for m, v in r.items()} for k, r in results.items()},
        "ratios": rat,
        "targets": gpu_targets(rat, args.device),
    }
    if not args.no_profile and torch.device(args.device).type == "cpu":
        first = next(k for k in steps if k.startswith("OF/"))
        figures["profile"] = {"step": first, **profile_step(steps[first])}
    return publish(result_name(args), figures)


if __name__ == "__main__":
    main()
