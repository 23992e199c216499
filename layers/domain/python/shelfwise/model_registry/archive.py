"""Unpacking a training job's `model.tar.gz` without trusting it.

The archive comes from a training container, i.e. from code and data the registry does not control, so it is
read member by member: only regular files and directories, only plain relative paths (no absolute paths, no
`..`, no links or devices), at most `ArchiveLimits.max_members` entries and `max_total_bytes` uncompressed.
The version is the directory holding the archive's single `manifest.json`; everything outside it is ignored.
"""

from __future__ import annotations

import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from shelfwise.model_registry.manifest import MANIFEST_FILE, VersionInvalid, relative_path_problem

_COPY_BLOCK = 1024 * 1024


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int = 10_000
    max_total_bytes: int = 2 * 1024**3
    max_archive_bytes: int = 1024**3


def unpack_version(archive: Path, destination: Path, limits: ArchiveLimits = ArchiveLimits()) -> Path:
    """Extract the version directory of `archive` into `destination`; returns the version's local root.

    Raises `VersionInvalid` with the reason for a hostile, oversized, damaged or ambiguous archive.
    """
    if archive.stat().st_size > limits.max_archive_bytes:
        raise VersionInvalid(f"archive is larger than {limits.max_archive_bytes} bytes")
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            members = _checked_members(tar, limits)
            root = _version_root(members)
            destination.mkdir(parents=True, exist_ok=True)
            for member in members:
                relative = _inside(member.name, root)
                if relative is None or not member.isfile():
                    continue
                target = destination.joinpath(*PurePosixPath(relative).parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                if source is None:
                    raise VersionInvalid(f"{member.name} cannot be read from the archive")
                with source, target.open("wb") as handle:
                    shutil.copyfileobj(source, handle, _COPY_BLOCK)
    except (tarfile.TarError, EOFError, OSError) as error:
        raise VersionInvalid(f"archive cannot be read: {error}") from None
    return destination


def _normalised(name: str) -> str:
    return name[2:] if name.startswith("./") else name


def _checked_members(tar: tarfile.TarFile, limits: ArchiveLimits) -> list[tarfile.TarInfo]:
    members: list[tarfile.TarInfo] = []
    total = 0
    for member in tar:
        if len(members) >= limits.max_members:
            raise VersionInvalid(f"archive has more than {limits.max_members} entries")
        name = _normalised(member.name).rstrip("/") if member.isdir() else _normalised(member.name)
        if member.isdir() and name in ("", "."):
            continue
        problem = relative_path_problem(name)
        if problem:
            raise VersionInvalid(f"archive entry {member.name!r} is {problem}")
        if not (member.isfile() or member.isdir()):
            raise VersionInvalid(f"archive entry {member.name!r} is a link or special file")
        total += member.size
        if total > limits.max_total_bytes:
            raise VersionInvalid(f"archive unpacks to more than {limits.max_total_bytes} bytes")
        member.name = name
        members.append(member)
    return members


def _version_root(members: list[tarfile.TarInfo]) -> str:
    """The directory (relative to the archive root, "" for the root itself) holding the only manifest.json."""
    manifests = [m.name for m in members if m.isfile() and PurePosixPath(m.name).name == MANIFEST_FILE]
    if not manifests:
        raise VersionInvalid("archive holds no manifest.json")
    if len(manifests) > 1:
        raise VersionInvalid(f"archive holds {len(manifests)} manifest.json files; expected one version")
    parent = PurePosixPath(manifests[0]).parent.as_posix()
    return "" if parent == "." else parent


def _inside(name: str, root: str) -> str | None:
    if not root:
        return name
    prefix = root + "/"
    return name[len(prefix) :] if name.startswith(prefix) else None
