"""envs/constraints.txt locks every package envs/install.sh installs: the README's numbers are made with
exactly those versions, and a fresh clone gets them (pip -c), whatever has been released since."""
from __future__ import annotations

from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

LOCK = Path(__file__).resolve().parents[1] / "envs" / "constraints.txt"
NOT_LOCKED = {"shard", "torch"}  # the project itself; torch comes from install.sh's TORCH_SPEC (CPU or CUDA)


def locked() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


def installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def test_every_locked_package_is_installed_at_its_locked_version():
    differ = {name: (pin, installed(name)) for name, pin in locked().items() if installed(name) != pin}
    assert not differ, f"installed versions differ from envs/constraints.txt (locked, installed): {differ}"


def test_the_lock_covers_everything_the_package_needs():
    """Every requirement of shard[test,slurm], followed down, is locked (torch's own stack aside)."""
    pins, seen, unlocked = locked(), set(), set()
    todo = [("shard", ("test", "slurm"))]
    while todo:
        name, extras = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in NOT_LOCKED - {"shard"}:
            continue
        if name != "shard" and name not in pins:
            unlocked.add(name)
        for spec in metadata.requires(name) or []:
            req = Requirement(spec)
            wanted = [e for e in extras] or [""]
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in wanted):
                todo.append((canonicalize_name(req.name), tuple(req.extras)))
    assert not unlocked, f"packages installed but not locked in envs/constraints.txt: {sorted(unlocked)}"
