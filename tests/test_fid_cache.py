"""Reference-statistics cache: hit, miss, invalidation, atomic files and one computation across processes."""

import contextlib
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from processes import started

from nasplatform.evaluation import ReferenceCache, ReferenceKey, compute_scores
from nasplatform.evaluation import reference_cache as cache_module
from nasplatform.evaluation.inception import InceptionExtractor, WeightSource

pytest_plugins = ["conftest_fid"]
KEY = ReferenceKey("patterns", "test", 32)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def real(tmp_path, pattern_images):
    return pattern_images(tmp_path / "real", 3, seed=0, size=32)


@pytest.fixture
def cache(tmp_path):
    return ReferenceCache(tmp_path / "cache", progress=False)


def test_miss_then_hit(real, cache, inception):
    first = cache.get(real, inception, KEY)
    second = cache.get(real, inception, KEY)
    assert (first.hit, second.hit, cache.misses, cache.hits) == (False, True, 1, 1)
    np.testing.assert_array_equal(first.features, second.features)
    np.testing.assert_array_equal(first.sigma, second.sigma)
    assert first.features.shape == (3, 2048) and first.mu.dtype == np.float64
    sidecar = json.loads(cache.entry_path(KEY, inception).with_suffix(".json").read_text())
    for field in ("file_list_sha256", "content_sha256", "extractor_id", "cleanfid_version"):
        assert sidecar[field] == second.provenance[field]
    assert sidecar["count"] == 3 and sidecar["image_sizes"] == [[32, 32]] and sidecar["key"]["image_size"] == 32
    with np.load(cache.entry_path(KEY, inception), allow_pickle=False) as data:
        assert set(data.files) == {"mu", "sigma", "features", "fingerprint", "provenance"}
    assert not [p for p in cache.root.iterdir() if p.suffix == ".tmp"]


def test_changed_file_recomputes(real, cache, inception):
    before = cache.get(real, inception, KEY)
    img = np.asarray(Image.open(real / "001.png")).copy()
    img[:8] = 255 - img[:8]
    Image.fromarray(img).save(real / "001.png")
    after = cache.get(real, inception, KEY)
    assert not after.hit and cache.misses == 2
    assert after.provenance["file_list_sha256"] == before.provenance["file_list_sha256"]
    assert after.provenance["content_sha256"] != before.provenance["content_sha256"]
    assert not np.array_equal(after.features[1], before.features[1])
    np.testing.assert_allclose(after.features[0], before.features[0], rtol=1e-5, atol=1e-5)


def test_added_file_recomputes(real, cache, inception, pattern_images):
    cache.get(real, inception, KEY)
    pattern_images(real / "more", 1, seed=9, size=32)  # sub-folders count, as in clean-fid
    after = cache.get(real, inception, KEY)
    assert not after.hit and after.count == 4


def test_cleanfid_version_and_extractor_are_part_of_the_key(real, cache, inception, monkeypatch):
    cache.get(real, inception, KEY)
    monkeypatch.setattr(cache_module, "CLEANFID_VERSION", "0.0.0")
    assert not cache.get(real, inception, KEY).hit
    other = InceptionExtractor(
        inception.layers,
        source=WeightSource.FID_HELPER,
        path=inception.path,
        weights="other-weights/sha256:0123456789abcdef",
        device=inception.device,
        channels_last=True,
    )
    assert cache.entry_path(KEY, other) != cache.entry_path(KEY, inception)
    assert not cache.get(real, other, KEY).hit and cache.misses == 3


def test_corrupt_entry_is_recomputed(real, cache, inception):
    cache.get(real, inception, KEY)
    cache.entry_path(KEY, inception).write_bytes(b"not an npz")
    with pytest.warns(UserWarning, match="unreadable reference statistics"):
        stats = cache.get(real, inception, KEY)
    assert not stats.hit and cache.get(real, inception, KEY).hit


def test_image_size_in_key_is_checked(real, cache, inception):
    with pytest.raises(ValueError, match=r"000\.png.*32x32.*64x64"):
        cache.get(real, inception, ReferenceKey("patterns", "test", 64))


def test_compute_scores_uses_the_cache(real, cache, inception):
    first = compute_scores(real, real, extractor=inception, cache=cache, reference_key=KEY, progress=False)
    second = compute_scores(real, real, extractor=inception, cache=cache, reference_key=KEY, progress=False)
    assert (first.reference_cache_hit, second.reference_cache_hit) == (False, True)
    assert abs(first.fid) < 1e-6 and second.fid == first.fid and second.kid == first.kid


_WORKER = textwrap.dedent("""
    import json, sys
    from nasplatform.evaluation import ReferenceCache, ReferenceKey, load_inception
    extractor = load_inception()
    cache = ReferenceCache(sys.argv[1], progress=False)
    print("ready", flush=True)
    stats = cache.get(sys.argv[2], extractor, ReferenceKey("patterns", "test", 32))
    print(json.dumps({"hit": stats.hit}), flush=True)
""")


@pytest.mark.slow  # two fresh interpreters import torch and load Inception
def test_two_processes_compute_once(real, cache, inception):
    """Both workers wait on the entry's lock (held here); once released, one computes and the other hits."""
    cache.root.mkdir(parents=True)
    lock_path = cache.entry_path(KEY, inception).with_suffix(".lock")
    results = []
    with contextlib.ExitStack() as stack:  # both workers' process groups end on the way out, whatever happened
        with cache_module._exclusive(lock_path):
            workers = [
                stack.enter_context(
                    started(
                        [sys.executable, "-c", _WORKER, str(cache.root), str(real)],
                        cwd=REPO,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                    )
                )
                for _ in range(2)
            ]
            for worker in workers:
                assert worker.stdout.readline().strip() == "ready", worker.stderr.read()
            time.sleep(0.5)  # let both reach flock
            assert all(w.poll() is None for w in workers)
        for worker in workers:
            out, err = worker.communicate()
            assert worker.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1])["hit"])
    assert sorted(results) == [False, True]
    assert cache.get(real, inception, KEY).hit
