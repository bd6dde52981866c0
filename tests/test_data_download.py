"""Fetching a dataset zip over HTTP (a local server), safe extraction, count verification and the offline message."""

import functools
import io
import socket
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nasplatform.cli import main
from nasplatform.data import (
    PAPER_DATASETS,
    DatasetSpec,
    DownloadError,
    download,
    download_dataset,
    safe_extract,
    verify_dataset,
)

TINY = DatasetSpec("tiny2zebra", {"trainA": 3, "trainB": 2, "testA": 1, "testB": 1})


def png_bytes(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def write_zip(path: Path, spec: DatasetSpec, extra: dict[str, bytes] | None = None, drop: int = 0) -> Path:
    """A zip like the official ones: NAME/<split>/<k>.png, `drop` images fewer in trainA."""
    with zipfile.ZipFile(path, "w") as archive:
        for split, n in spec.counts.items():
            for k in range(n - (drop if split == "trainA" else 0)):
                archive.writestr(f"{spec.name}/{split}/{k}.png", png_bytes(k))
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A local HTTP server over tmp_path/served; yields (base_url, folder)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(QuietHandler, directory=str(folder))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/datasets", folder
    httpd.shutdown()
    httpd.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now: connection refused
    return f"http://127.0.0.1:{port}/datasets"


def test_paper_datasets_and_counts():
    assert set(PAPER_DATASETS) == {
        "horse2zebra",
        "apple2orange",
        "summer2winter_yosemite",
        "facades",
        "maps",
        "iphone2dslr_flower",
    }
    assert PAPER_DATASETS["horse2zebra"].counts == {"trainA": 1067, "trainB": 1334, "testA": 120, "testB": 140}
    assert PAPER_DATASETS["iphone2dslr_flower"].counts["trainB"] == 3325


def test_download_extracts_and_verifies(tmp_path, server):
    base_url, served = server
    (served / "datasets").mkdir()
    write_zip(served / "datasets" / "tiny2zebra.zip", TINY)
    root = tmp_path / "data"
    folder = download_dataset(TINY, root, base_url=base_url, progress=False)
    assert folder == root / "tiny2zebra"
    assert verify_dataset(TINY, root) == TINY.counts
    assert (root / "tiny2zebra.zip").is_file() and not list(root.glob("*.part")) and not list(root.glob(".*"))
    # a second call finds the dataset in place and only checks it
    (served / "datasets" / "tiny2zebra.zip").unlink()
    assert download_dataset(TINY, root, base_url=base_url, progress=False) == folder


def test_download_reports_wrong_counts(tmp_path, server):
    base_url, served = server
    (served / "datasets").mkdir()
    write_zip(served / "datasets" / "tiny2zebra.zip", TINY, drop=1)
    with pytest.raises(DownloadError, match="trainA: expected 3 images, found 2") as info:
        download_dataset(TINY, tmp_path / "data", base_url=base_url, progress=False)
    assert "trainB" not in str(info.value)


def test_download_http_error(tmp_path, server):
    base_url, _ = server
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_dataset(TINY, tmp_path / "data", base_url=base_url, progress=False)


@pytest.mark.parametrize(
    "entry", ["../evil.png", "/tmp/abs_evil.png", "tiny2zebra/../../evil.png", "C:/evil.png", "..\\evil.png"]
)
def test_extraction_refuses_escaping_entries(tmp_path, entry):
    zip_path = write_zip(tmp_path / "bad.zip", TINY, extra={entry: b"payload"})
    dest = tmp_path / "out" / "inner"
    with pytest.raises(DownloadError, match="refusing") as info:
        safe_extract(zip_path, dest)
    assert entry in str(info.value)
    assert not dest.exists()  # nothing extracted, not even the harmless entries
    assert not (tmp_path / "out" / "evil.png").exists() and not Path("/tmp/abs_evil.png").exists()


def test_download_refuses_unsafe_zip_already_present(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    write_zip(root / "tiny2zebra.zip", TINY, extra={"../evil.png": b"x"})
    with pytest.raises(DownloadError, match=r"\.\./evil\.png"):
        download_dataset(TINY, root, base_url=closed_port_url(), progress=False)
    assert not (tmp_path / "evil.png").exists() and not (root / "tiny2zebra").exists()


def test_zip_without_dataset_folder(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    with zipfile.ZipFile(root / "tiny2zebra.zip", "w") as archive:
        archive.writestr("trainA/0.png", png_bytes(0))
    with pytest.raises(DownloadError, match="no top-level folder tiny2zebra/; found: trainA"):
        download_dataset(TINY, root, progress=False)


def test_offline_fails_fast_with_manual_instructions(tmp_path, monkeypatch):
    # fast = one connection attempt, no retries: counted, not timed (a busy machine makes any clock budget flaky)
    attempts = []
    real_get = download.requests.get
    monkeypatch.setattr(
        download.requests, "get", lambda *args, **kwargs: attempts.append(args) or real_get(*args, **kwargs)
    )
    with pytest.raises(DownloadError) as info:
        download_dataset(TINY, tmp_path / "data", base_url=closed_port_url(), progress=False)
    assert len(attempts) == 1
    message = str(info.value)
    assert "tiny2zebra.zip" in message and "by hand" in message
    for split in ("trainA", "trainB", "testA", "testB"):
        assert str(tmp_path / "data" / "tiny2zebra" / split) in message


def test_cli_download_offline_and_unknown(tmp_path, capsys):
    assert (
        main(
            [
                "data",
                "download",
                "horse2zebra",
                "--root",
                str(tmp_path),
                "--base-url",
                closed_port_url(),
                "--no-progress",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "horse2zebra.zip" in err and "1067 images" in err
    assert main(["data", "download", "cats2dogs", "--root", str(tmp_path)]) == 2
    assert "horse2zebra" in capsys.readouterr().err  # the known names are listed


def test_cli_verify(tmp_path, capsys):
    assert main(["data", "verify", "facades", "--root", str(tmp_path)]) == 2
    assert "trainA: expected 400 images, found 0 (folder missing)" in capsys.readouterr().err


def test_official_host_is_https():
    from nasplatform.data.download import OFFICIAL_BASE_URL

    assert OFFICIAL_BASE_URL.startswith("https://efrosgans.eecs.berkeley.edu/")


def test_cli_refuses_a_zip_bomb_before_extracting(tmp_path, server, capsys):
    base_url, served = server
    (served / "datasets").mkdir()
    with zipfile.ZipFile(served / "datasets" / "horse2zebra.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("horse2zebra/trainA/0.png", bytes(20 << 20))  # 20 MiB of zeros, ~20 KB packed
    root = tmp_path / "data"
    assert main(["data", "download", "horse2zebra", "--root", str(root), "--base-url", base_url, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "zip bomb" in err and "download.MAX_RATIO" in err and "horse2zebra.zip" in err
    assert sorted(p.name for p in root.iterdir()) == ["horse2zebra.zip"]  # nothing extracted, no digest recorded


def test_total_unpacked_and_download_size_caps(tmp_path, server, monkeypatch):
    from nasplatform.data import download

    base_url, served = server
    (served / "datasets").mkdir()
    write_zip(served / "datasets" / f"{TINY.name}.zip", TINY)
    monkeypatch.setattr(download, "MAX_UNPACKED_BYTES", 300)
    with pytest.raises(DownloadError, match="download.MAX_UNPACKED_BYTES"):
        download_dataset(TINY, tmp_path / "a", base_url=base_url, progress=False)
    assert not (tmp_path / "a" / TINY.name).exists()
    monkeypatch.setattr(download, "MAX_ZIP_BYTES", 100)
    with pytest.raises(DownloadError, match=r"more than the 100 a dataset zip may be \(download.MAX_ZIP_BYTES\)"):
        download_dataset(TINY, tmp_path / "b", base_url=base_url, progress=False)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == []  # no .part, no zip


def test_first_download_records_the_digest_later_ones_must_match(tmp_path, server):
    base_url, served = server
    (served / "datasets").mkdir()
    zip_name = f"{TINY.name}.zip"
    write_zip(served / "datasets" / zip_name, TINY)
    root = tmp_path / "data"
    download_dataset(TINY, root, base_url=base_url, progress=False)
    import hashlib

    recorded = (root / f"{zip_name}.sha256").read_text().split()[0]
    assert recorded == hashlib.sha256((served / "datasets" / zip_name).read_bytes()).hexdigest()
    # the server's copy changes: a fresh download no longer matches what the first install recorded
    import shutil

    shutil.rmtree(root / TINY.name)
    (root / zip_name).unlink()
    write_zip(served / "datasets" / zip_name, TINY, extra={"README.txt": b"changed"})
    with pytest.raises(DownloadError, match=f"recorded {recorded}"):
        download_dataset(TINY, root, base_url=base_url, progress=False)
    assert not (root / TINY.name).exists()
