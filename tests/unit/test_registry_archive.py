"""Model versions from untrusted archives: safe unpacking and the manifest's sha256 list."""

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from shelfwise.model_registry.archive import ArchiveLimits, unpack_version
from shelfwise.model_registry.manifest import VersionInvalid, read_gate, read_manifest, verify_files

GATE = {"gate": {"metrics": {"ndcg_at_10": 0.4}, "comparable_key": "recommender-v1"}}


def version_files(version: str = "v1") -> dict[str, bytes]:
    files = {
        "metrics.json": json.dumps(GATE).encode(),
        "scorer.onnx": b"\x08\x01graph",
        "sub/ids.json": b"[1]",
    }
    manifest = {
        "model_name": "recommender",
        "version": version,
        "created_at": "2026-11-27T03:00:00Z",
        "files": {path: hashlib.sha256(body).hexdigest() for path, body in files.items()},
    }
    return {**files, "manifest.json": json.dumps(manifest).encode()}


def make_archive(path: Path, members: dict[str, bytes], extra: list[tarfile.TarInfo] = ()) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        for info in extra:
            tar.addfile(info)
    return path


def test_a_version_directory_unpacks_and_verifies(tmp_path: Path) -> None:
    members = {f"v1/{name}": body for name, body in version_files().items()}
    root = unpack_version(make_archive(tmp_path / "model.tar.gz", members), tmp_path / "out")
    manifest = read_manifest(root)
    verify_files(root, manifest)
    assert (root / "sub" / "ids.json").read_bytes() == b"[1]"
    assert read_gate(root).comparable_key == "recommender-v1"


def test_a_version_at_the_archive_root_with_dot_slash_names_unpacks(tmp_path: Path) -> None:
    members = {f"./{name}": body for name, body in version_files().items()}
    root = unpack_version(make_archive(tmp_path / "model.tar.gz", members), tmp_path / "out")
    verify_files(root, read_manifest(root))


@pytest.mark.parametrize(
    ("name", "reason"),
    [("/etc/evil", "not a plain relative path"), ("v1/../../evil", "not a plain relative path")],
)
def test_escaping_paths_are_refused(tmp_path: Path, name: str, reason: str) -> None:
    members = {f"v1/{n}": body for n, body in version_files().items()} | {name: b"x"}
    with pytest.raises(VersionInvalid, match=reason):
        unpack_version(make_archive(tmp_path / "a.tar.gz", members), tmp_path / "out")
    assert not (tmp_path / "evil").exists()


def test_links_are_refused(tmp_path: Path) -> None:
    link = tarfile.TarInfo("v1/passwd")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    members = {f"v1/{n}": body for n, body in version_files().items()}
    with pytest.raises(VersionInvalid, match="link or special file"):
        unpack_version(make_archive(tmp_path / "a.tar.gz", members, [link]), tmp_path / "out")


def test_size_and_member_limits_are_enforced(tmp_path: Path) -> None:
    members = {f"v1/{n}": body for n, body in version_files().items()}
    archive = make_archive(tmp_path / "a.tar.gz", members)
    with pytest.raises(VersionInvalid, match="unpacks to more than 10 bytes"):
        unpack_version(archive, tmp_path / "o1", ArchiveLimits(max_total_bytes=10))
    with pytest.raises(VersionInvalid, match="more than 2 entries"):
        unpack_version(archive, tmp_path / "o2", ArchiveLimits(max_members=2))


def test_two_versions_in_one_archive_are_ambiguous(tmp_path: Path) -> None:
    members = {f"v1/{n}": b for n, b in version_files().items()} | {
        f"v2/{n}": b for n, b in version_files("v2").items()
    }
    with pytest.raises(VersionInvalid, match=r"2 manifest\.json files"):
        unpack_version(make_archive(tmp_path / "a.tar.gz", members), tmp_path / "out")


def test_garbage_is_not_an_archive(tmp_path: Path) -> None:
    garbage = tmp_path / "model.tar.gz"
    garbage.write_bytes(b"definitely not gzip")
    with pytest.raises(VersionInvalid, match="cannot be read"):
        unpack_version(garbage, tmp_path / "out")


def test_a_corrupt_file_is_named(tmp_path: Path) -> None:
    for name, body in version_files().items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(body)
    (tmp_path / "scorer.onnx").write_bytes(b"tampered")
    with pytest.raises(VersionInvalid, match=r"scorer\.onnx is corrupt"):
        verify_files(tmp_path, read_manifest(tmp_path))


def test_missing_and_unlisted_files_are_named(tmp_path: Path) -> None:
    for name, body in version_files().items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(body)
    (tmp_path / "stowaway.bin").write_bytes(b"?")
    with pytest.raises(VersionInvalid, match=r"not listed in the manifest: stowaway\.bin"):
        verify_files(tmp_path, read_manifest(tmp_path))
    (tmp_path / "stowaway.bin").unlink()
    (tmp_path / "sub" / "ids.json").unlink()
    with pytest.raises(VersionInvalid, match=r"sub/ids\.json is listed in the manifest but missing"):
        verify_files(tmp_path, read_manifest(tmp_path))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"files": {"../x": "0" * 64, "metrics.json": "0" * 64}}, "not a plain relative path"),
        ({"files": {"metrics.json": "not-a-digest"}}, "sha256 hex digest"),
        ({"files": {"scorer.onnx": "0" * 64}}, "must list metrics.json"),
        ({"created_at": "yesterday"}, "ISO-8601"),
        ({"version": "../v1"}, "version"),
        ({"model_name": None}, "model_name"),
    ],
)
def test_manifest_contract_violations_are_explained(tmp_path: Path, change: dict, reason: str) -> None:
    manifest = json.loads(version_files()["manifest.json"]) | change
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(VersionInvalid, match=reason):
        read_manifest(tmp_path)


def test_a_gate_without_finite_metrics_is_refused(tmp_path: Path) -> None:
    (tmp_path / "metrics.json").write_text(
        '{"gate": {"metrics": {"ndcg_at_10": NaN}, "comparable_key": "k"}}'
    )
    with pytest.raises(VersionInvalid, match="not a finite number"):
        read_gate(tmp_path)
    (tmp_path / "metrics.json").write_text('{"evaluation": {}}')
    with pytest.raises(VersionInvalid, match='no "gate" object'):
        read_gate(tmp_path)


def test_reported_gate_metrics_are_read_and_must_be_finite(tmp_path: Path) -> None:
    (tmp_path / "metrics.json").write_text(
        '{"gate": {"metrics": {"ndcg_at_10": 0.3}, "comparable_key": "k",'
        ' "reported": {"catalog_coverage": 0.25}}}'
    )
    assert read_gate(tmp_path).reported == {"catalog_coverage": 0.25}
    (tmp_path / "metrics.json").write_text(
        '{"gate": {"metrics": {"ndcg_at_10": 0.3}, "comparable_key": "k",'
        ' "reported": {"exposure_gini": Infinity}}}'
    )
    with pytest.raises(VersionInvalid, match="not a finite number"):
        read_gate(tmp_path)
