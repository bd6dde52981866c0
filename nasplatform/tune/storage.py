"""Experiment folders on a local disk or in object storage (s3://, gs://), read and written through pyarrow."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

from nasplatform.atomic import atomic_write

#: File system types (the third field of /proc/mounts) that machines share: a local --storage folder on one of
#: them is taken to be mounted at the same place on every node. Others are node-local unless --storage-is-shared.
SHARED_FS_TYPES = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "lustre",
        "gpfs",
        "ceph",
        "glusterfs",
        "beegfs",
        "wekafs",
        "fuse.glusterfs",
        "fuse.ceph-fuse",
        "fuse.juicefs",
        "fuse.gcsfuse",
        "fuse.s3fs",
    }
)


class StorageError(ValueError):
    """A storage location that cannot be opened or lacks a file it should hold; the message names it."""


@dataclass(frozen=True)
class Storage:
    """One folder (an experiment folder, usually) on a pyarrow file system.

    uri: as the user gave it (absolute local path or s3://... / gs://...); root: the folder's path on `fs`.
    """

    fs: pafs.FileSystem
    root: str
    uri: str

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    @property
    def name(self) -> str:
        return posixpath.basename(self.root.rstrip("/"))

    def path(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    @property
    def is_shared(self) -> bool:
        """Reached by every node at the same address: object storage, or a folder on a shared file system."""
        return not self.is_local or mount_type(self.root, read_mounts()) in SHARED_FS_TYPES

    def child(self, *parts: str) -> Storage:
        return Storage(self.fs, self.path(*parts), posixpath.join(self.uri, *parts))

    def local_path(self, *parts: str) -> Path | None:
        """The path on this machine, for local storage; None for object storage."""
        return Path(self.path(*parts)) if self.is_local else None

    def exists(self, *parts: str) -> bool:
        return self.fs.get_file_info(self.path(*parts)).type != pafs.FileType.NotFound

    def read_text(self, *parts: str) -> str:
        path = self.path(*parts)
        try:
            with self.fs.open_input_stream(path) as stream:
                return stream.read().decode("utf-8")
        except (FileNotFoundError, OSError) as exc:
            raise StorageError(f"{posixpath.join(self.uri, *parts)}: cannot read ({exc})") from None

    def write_bytes(self, data: bytes, *parts: str) -> None:
        """Write a whole file; on a local disk through a temporary file and a rename (never half a file)."""
        path = self.path(*parts)
        if self.is_local:
            atomic_write(Path(path), lambda fh: fh.write(data))
            return
        self.fs.create_dir(posixpath.dirname(path), recursive=True)
        with self.fs.open_output_stream(path) as stream:
            stream.write(data)

    def write_text(self, text: str, *parts: str) -> None:
        self.write_bytes(text.encode("utf-8"), *parts)

    def list_names(self, *parts: str) -> list[tuple[str, bool]]:
        """(name, is_folder) of the entries of a folder, sorted by name; [] if it does not exist."""
        if not self.exists(*parts):
            return []
        infos = self.fs.get_file_info(pafs.FileSelector(self.path(*parts), recursive=False))
        return sorted((info.base_name, info.type == pafs.FileType.Directory) for info in infos)


def read_mounts() -> str:
    """This machine's mount table (Linux); "" where there is none to read."""
    try:
        return Path("/proc/mounts").read_text(encoding="utf-8")
    except OSError:
        return ""


def mount_type(path: str, mounts: str) -> str:
    """The type of the file system holding the absolute `path`, from /proc/mounts text ("" if no mount matches).
    The longest mount point that is `path` or one of its parent folders wins."""
    best, found = -1, ""
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ").rstrip("/") or "/"
        inside = point == "/" or path == point or path.startswith(point + "/")
        if inside and len(point) >= best:  # the last of two mounts at one place is the visible one
            best, found = len(point), fields[2]
    return found


def open_storage(uri: str | Path) -> Storage:
    """A Storage for a local folder (made absolute) or an s3:// / gs:// URI."""
    text = str(uri)
    if "://" not in text:
        path = Path(text).expanduser().resolve()
        return Storage(pafs.LocalFileSystem(), path.as_posix(), path.as_posix())
    try:
        fs, path = pafs.FileSystem.from_uri(text)
    except (ValueError, OSError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise StorageError(f"{text}: not a storage location pyarrow can open ({exc})") from None
    return Storage(fs, path.rstrip("/"), text.rstrip("/"))
