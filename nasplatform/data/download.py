"""The paper's six datasets: fetching the official zips, extracting them safely and checking their image counts.

Trust (docs/platform.md, "What is safe to open"): the zips come over https from the CycleGAN authors' host.
Their digests are not published, so the first download records the zip's SHA-256 and size in
ROOT/NAME.zip.sha256 and every later use of ROOT/NAME.zip, or a new download, must match it (trust on first
use). Before anything is extracted, the archive's declared sizes are held against MAX_ZIP_BYTES,
MAX_UNPACKED_BYTES and MAX_RATIO (Python's zipfile never writes more than an entry declares and checks
its CRC), so a zip bomb is refused instead of filling the disk.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import requests
from tqdm import tqdm

from nasplatform.data.images import list_images

#: the server of the official `datasets/download_cyclegan_dataset.sh` ($BASE_URL/$FILE.zip), over https: the
#: script says http, the host serves the same files over https as well
OFFICIAL_BASE_URL = "https://efrosgans.eecs.berkeley.edu/cyclegan/datasets"
#: caps on what one dataset zip may be: the paper's largest is a few hundred MB of JPEGs, which barely compress
MAX_ZIP_BYTES = 2 << 30
MAX_UNPACKED_BYTES = 4 << 30
#: unpacked / packed size; JPEG and PNG datasets are close to 1. Archives unpacking to less than
#: RATIO_FREE_BYTES are not held to it (a handful of small files can compress well and harm nobody).
MAX_RATIO = 20
RATIO_FREE_BYTES = 16 << 20
SPLIT_FOLDERS = ("trainA", "trainB", "testA", "testB")
# seconds to wait for the connection (fail fast offline) and between received chunks
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 60.0
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset in the CycleGAN layout and its image count per split folder."""

    name: str
    counts: dict[str, int]

    def layout(self, root: Path) -> str:
        return "\n".join(f"  {root / self.name / split}/  ({self.counts[split]} images)" for split in SPLIT_FOLDERS)


#: docs/design.md §7: image counts of trainA/trainB/testA/testB
PAPER_DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("horse2zebra", dict(zip(SPLIT_FOLDERS, (1067, 1334, 120, 140)))),
        DatasetSpec("apple2orange", dict(zip(SPLIT_FOLDERS, (995, 1019, 266, 248)))),
        DatasetSpec("summer2winter_yosemite", dict(zip(SPLIT_FOLDERS, (1231, 962, 309, 238)))),
        DatasetSpec("facades", dict(zip(SPLIT_FOLDERS, (400, 400, 106, 106)))),
        DatasetSpec("maps", dict(zip(SPLIT_FOLDERS, (1096, 1096, 1098, 1098)))),
        DatasetSpec("iphone2dslr_flower", dict(zip(SPLIT_FOLDERS, (1812, 3325, 569, 480)))),
    )
}


class DownloadError(RuntimeError):
    """The dataset could not be fetched, extracted or verified; the message says what to do."""


def paper_dataset(name: str) -> DatasetSpec:
    if name not in PAPER_DATASETS:
        raise DownloadError(f"unknown dataset {name!r}; the paper's datasets are: {', '.join(PAPER_DATASETS)}")
    return PAPER_DATASETS[name]


def dataset_url(name: str, base_url: str = OFFICIAL_BASE_URL) -> str:
    return f"{base_url.rstrip('/')}/{name}.zip"


def verify_dataset(spec: DatasetSpec, root: str | Path) -> dict[str, int]:
    """Image counts of ROOT/NAME/<split>; raises DownloadError listing every split that differs."""
    folder = Path(root) / spec.name
    found = {split: len(list_images(folder / split)) for split in SPLIT_FOLDERS}
    wrong = [
        f"{split}: expected {spec.counts[split]} images, found {found[split]}"
        + ("" if (folder / split).is_dir() else " (folder missing)")
        for split in SPLIT_FOLDERS
        if found[split] != spec.counts[split]
    ]
    if wrong:
        raise DownloadError(f"{folder} does not hold the expected {spec.name} images:\n  " + "\n  ".join(wrong))
    return found


def check_zip_entries(archive: zipfile.ZipFile, zip_path: Path) -> None:
    """Refuse an archive any of whose entries would land outside the extraction folder, is a symbolic link
    (zipfile would write it as a plain file holding the link's target), or sits under another entry's file."""
    files = set()
    for info in archive.infolist():
        name = info.filename
        pure = PurePosixPath(name.replace("\\", "/"))
        drive = len(name) > 1 and name[1] == ":"
        if pure.is_absolute() or drive or ".." in pure.parts:
            raise DownloadError(f"refusing to extract {zip_path}: entry '{name}' points outside the target folder")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise DownloadError(
                f"refusing to extract {zip_path}: entry '{name}' is a symbolic link; "
                "a dataset archive holds only folders and image files"
            )
        under = next((str(p) for p in pure.parents if str(p) in files), None)
        if under is not None:
            raise DownloadError(
                f"refusing to extract {zip_path}: entry '{name}' lies under '{under}', "
                "which the archive also holds as a file"
            )
        if not info.is_dir():
            files.add(str(pure))


def check_zip_sizes(archive: zipfile.ZipFile, zip_path: Path) -> int:
    """Refuse an archive that would unpack to more than MAX_UNPACKED_BYTES, or to more than MAX_RATIO times
    its own size; returns the unpacked size."""
    packed = max(zip_path.stat().st_size, 1)
    unpacked = sum(info.file_size for info in archive.infolist())
    if unpacked > MAX_UNPACKED_BYTES:
        raise DownloadError(
            f"refusing to extract {zip_path}: it unpacks to {unpacked:,} bytes, more than the "
            f"{MAX_UNPACKED_BYTES:,} a dataset may take (download.MAX_UNPACKED_BYTES)"
        )
    if unpacked > RATIO_FREE_BYTES and unpacked > MAX_RATIO * packed:
        raise DownloadError(
            f"refusing to extract {zip_path}: its {packed:,} bytes unpack to {unpacked:,} bytes "
            f"({unpacked / packed:.0f}x, more than the {MAX_RATIO}x an image dataset compresses; "
            "download.MAX_RATIO): a zip bomb or not an image dataset"
        )
    return unpacked


def safe_extract(zip_path: str | Path, dest: str | Path) -> None:
    """Extract `zip_path` into `dest` after checking every entry (absolute paths and `..` are refused) and the
    sizes (check_zip_sizes)."""
    zip_path, dest = Path(zip_path), Path(dest)
    try:
        with zipfile.ZipFile(zip_path) as archive:
            check_zip_entries(archive, zip_path)
            check_zip_sizes(archive, zip_path)
            entries = archive.infolist()
            for info in tqdm(
                entries, desc=f"extracting {zip_path.name}", unit="file", leave=False, disable=len(entries) < 100
            ):
                archive.extract(info, dest)
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{zip_path} is not a valid zip ({exc}); delete it and download again") from None


def _offline_message(spec: DatasetSpec, url: str, root: Path, reason: str) -> str:
    return (
        f"cannot fetch {url} ({reason}).\n"
        f"To install {spec.name} by hand: download {url} on a machine with internet access, "
        f"unzip it into {root} so that the images are in\n{spec.layout(root)}\n"
        f"then check it with: nasplatform data verify {spec.name} --root {root}"
    )


def fetch_zip(spec: DatasetSpec, root: Path, base_url: str = OFFICIAL_BASE_URL, progress: bool = True) -> Path:
    """Stream the zip into ROOT/NAME.zip.part and rename it to ROOT/NAME.zip once complete."""
    url = dataset_url(spec.name, base_url)
    final, part = root / f"{spec.name}.zip", root / f"{spec.name}.zip.part"
    try:
        response = requests.get(url, stream=True, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise DownloadError(_offline_message(spec, url, root, f"no connection: {type(exc).__name__}")) from None
    with response:
        if response.status_code != 200:
            raise DownloadError(_offline_message(spec, url, root, f"HTTP {response.status_code}"))
        expected = int(response.headers.get("Content-Length", 0)) or None
        if expected is not None and expected > MAX_ZIP_BYTES:
            raise DownloadError(
                f"{url} is {expected:,} bytes, more than the {MAX_ZIP_BYTES:,} a dataset zip may be "
                "(download.MAX_ZIP_BYTES); refusing to download it"
            )
        received = _stream(response, part, expected, progress)
    if expected is not None and received != expected:
        raise DownloadError(f"download of {url} stopped after {received} of {expected} bytes; run it again")
    os.replace(part, final)
    return final


def _stream(response: requests.Response, part: Path, expected: int | None, progress: bool) -> int:
    received = 0
    with (
        open(part, "wb") as out,
        tqdm(
            total=expected, unit="B", unit_scale=True, desc=part.name.removesuffix(".part"), disable=not progress
        ) as bar,
    ):
        try:
            for chunk in response.iter_content(CHUNK_BYTES):
                out.write(chunk)
                received += len(chunk)
                if received > MAX_ZIP_BYTES:
                    raise DownloadError(
                        f"{response.url} sent more than the {MAX_ZIP_BYTES:,} bytes a dataset zip may "
                        "be (download.MAX_ZIP_BYTES); download stopped"
                    )
                bar.update(len(chunk))
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise DownloadError(
                f"download of {response.url} broke off after {received} bytes ({exc}); run it again"
            ) from None
        except DownloadError:
            out.close()
            part.unlink(missing_ok=True)
            raise
    return received


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK_BYTES), b""):
            sha.update(block)
    return sha.hexdigest()


def digest_record(zip_path: Path) -> Path:
    return zip_path.with_name(zip_path.name + ".sha256")


def check_digest(zip_path: Path) -> str:
    """The zip's SHA-256, checked against NAME.zip.sha256 when a first install recorded it there."""
    record = digest_record(zip_path)
    digest = _digest(zip_path)
    if record.is_file():
        recorded = record.read_text().split()[0] if record.read_text().split() else ""
        if recorded != digest:
            raise DownloadError(
                f"{zip_path} has SHA-256 {digest}, but {record} recorded {recorded} when this dataset was first "
                f"downloaded: the file changed (corrupt, replaced, or the server's copy changed). Delete {zip_path} "
                "to fetch it again; delete the record too only if you trust the new file"
            )
    return digest


def download_dataset(
    spec: DatasetSpec | str, root: str | Path, *, base_url: str = OFFICIAL_BASE_URL, progress: bool = True
) -> Path:
    """ROOT/NAME with verified image counts: fetched (unless its zip is already there), extracted, checked."""
    spec = paper_dataset(spec) if isinstance(spec, str) else spec
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    target = root / spec.name
    if target.is_dir():
        verify_dataset(spec, root)  # already installed: just check it
        return target
    zip_path = root / f"{spec.name}.zip"
    if not zip_path.is_file():
        zip_path = fetch_zip(spec, root, base_url, progress)
    digest = check_digest(zip_path)
    staging = root / f".{spec.name}.extracting"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        safe_extract(zip_path, staging)
        if not (staging / spec.name).is_dir():
            raise DownloadError(
                f"{zip_path} has no top-level folder {spec.name}/; found: "
                f"{', '.join(sorted(p.name for p in staging.iterdir())) or 'nothing'}"
            )
        os.replace(staging / spec.name, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    verify_dataset(spec, root)
    if not digest_record(zip_path).is_file():  # first install: this zip is the one later uses must match
        digest_record(zip_path).write_text(f"{digest}  {zip_path.name}\n")
    return target
