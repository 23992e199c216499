"""requirements.lock, which `make install` installs first, agrees with every pin in pyproject.toml.

A pin changed in pyproject.toml without `make lock` would otherwise install the locked version on CI and the
new one elsewhere.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCK = REPO_ROOT / "requirements.lock"
# Installed from pyproject.toml's pin after the lock: its wheel depends on the index (CPU or CUDA build).
UNLOCKED = {"torch"}


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_packages() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of every package in the lock."""
    packages: dict[str, tuple[str, list[str]]] = {}
    current = ""
    for line in LOCK.read_text().splitlines():
        entry = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", line)
        if entry:
            current = normalized(entry.group(1))
            packages[current] = (entry.group(2), [])
        elif line.strip().startswith("--hash=") and current:
            packages[current][1].append(line.strip().removeprefix("--hash=").rstrip(" \\"))
    return packages


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        requirements += extra
    pins = {}
    for requirement in requirements:
        name, separator, version = requirement.partition("==")
        assert separator, f"{requirement} in pyproject.toml is not pinned exactly"
        pins[normalized(name.split("[")[0].strip())] = version.strip()
    return pins


def test_every_pin_of_pyproject_is_locked_at_the_same_version() -> None:
    locked = locked_packages()
    stale = {
        name: (version, locked.get(name, ("missing",))[0])
        for name, version in pyproject_pins().items()
        if name not in UNLOCKED and locked.get(name, ("missing",))[0] != version
    }
    assert stale == {}, f"(pyproject, lock) differ; run `make lock`: {stale}"
    assert UNLOCKED.isdisjoint(locked)


def test_every_locked_package_has_an_exact_version_and_sha256_hashes() -> None:
    locked = locked_packages()
    assert len(locked) > len(pyproject_pins())  # the transitive dependencies are there too
    for name, (version, hashes) in locked.items():
        assert re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", version), (name, version)
        assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", value) for value in hashes), name
