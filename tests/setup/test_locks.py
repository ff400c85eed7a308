"""The Python locks (requirements-*.lock) against their inputs (requirements-*.txt) and the Makefile.

Run: .venv/bin/python -m pytest tests/setup -q

- every requirement of an input is locked, at a version its specifier allows;
- every locked package is pinned exactly and carries at least one sha256 hash;
- the deploy lock holds both inputs, and a package in both locks has the same version in each;
- the Makefile installs only the locks, with --require-hashes, and `make lock` writes them.

An input edited without `make lock` fails here, with the package to lock named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
DEV_IN, DEPLOY_IN = ROOT / "requirements-dev.txt", ROOT / "requirements-deploy.txt"
DEV_LOCK, DEPLOY_LOCK = ROOT / "requirements-dev.lock", ROOT / "requirements-deploy.lock"
MAKEFILE = ROOT / "Makefile"


@dataclass(frozen=True)
class Pin:
    name: str
    version: Version
    marker: Marker | None
    hashes: tuple[str, ...]

    def applies(self) -> bool:
        return self.marker is None or self.marker.evaluate()


def read_input(path: Path) -> list[Requirement]:
    reqs = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            reqs.append(Requirement(line))
    return reqs


def read_lock(path: Path) -> list[Pin]:
    """Every entry of a lock written by `uv pip compile --generate-hashes`, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", path.read_text(encoding="utf-8"))
    pins = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()  # `# via ...` annotations; hashes hold no "#"
        if not line:
            continue
        spec, *options = re.split(r"\s+(?=--)", line)
        req = Requirement(spec)
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"{path.name}: {spec} is not pinned with =="
        version = specs[0].version
        hashes = tuple(o.removeprefix("--hash=") for o in options if o.startswith("--hash="))
        pins.append(Pin(canonicalize_name(req.name), Version(version), req.marker, hashes))
    return pins


def applicable(pins: list[Pin]) -> dict[str, Pin]:
    out: dict[str, Pin] = {}
    for pin in pins:
        if pin.applies():
            assert pin.name not in out, f"{pin.name} is locked twice for this interpreter"
            out[pin.name] = pin
    return out


@pytest.fixture(scope="module")
def dev_lock() -> list[Pin]:
    return read_lock(DEV_LOCK)


@pytest.fixture(scope="module")
def deploy_lock() -> list[Pin]:
    return read_lock(DEPLOY_LOCK)


def unlocked(inputs: list[Requirement], pins: list[Pin]) -> list[str]:
    """The requirements of `inputs` that `pins` does not satisfy, each said the way to fix it."""
    locked = applicable(pins)
    problems = []
    for req in inputs:
        if req.marker is not None and not req.marker.evaluate():
            continue
        pin = locked.get(canonicalize_name(req.name))
        if pin is None:
            problems.append(f"{req} is not locked: run `make lock`")
        elif not req.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{req} is locked at {pin.version}: run `make lock`")
    return problems


def test_every_dev_requirement_is_locked(dev_lock):
    assert unlocked(read_input(DEV_IN), dev_lock) == []


def test_the_deploy_lock_holds_both_inputs(deploy_lock):
    assert unlocked(read_input(DEV_IN) + read_input(DEPLOY_IN), deploy_lock) == []


def test_an_input_the_lock_does_not_cover_is_named(dev_lock):
    """The check above is real: a requirement missing from the lock, or outside its specifier, is reported."""
    pytest_pin = applicable(dev_lock)["pytest"].version
    extra = [Requirement("not-a-locked-package>=1"), Requirement(f"pytest>{pytest_pin}")]
    assert unlocked(extra, dev_lock) == [
        "not-a-locked-package>=1 is not locked: run `make lock`",
        f"pytest>{pytest_pin} is locked at {pytest_pin}: run `make lock`",
    ]


@pytest.mark.parametrize("lock", [DEV_LOCK, DEPLOY_LOCK], ids=lambda p: p.name)
def test_every_locked_package_has_hashes(lock):
    pins = read_lock(lock)
    assert len(pins) >= 50, f"{lock.name} looks truncated"
    for pin in pins:
        assert pin.hashes, f"{lock.name}: {pin.name} has no --hash"
        for h in pin.hashes:
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", h), f"{lock.name}: {pin.name} has hash {h}"


def test_a_package_in_both_locks_has_one_version(dev_lock, deploy_lock):
    deploy = {(p.name, str(p.marker)): p.version for p in deploy_lock}
    for pin in dev_lock:
        assert deploy.get((pin.name, str(pin.marker))) == pin.version, (
            f"{pin.name} is {pin.version} in the dev lock and {deploy.get((pin.name, str(pin.marker)))} in the deploy lock"
        )


def test_the_dev_lock_is_installed_here(dev_lock):
    """The venv running this test was installed from the lock: every applicable pin, at its version."""
    from importlib.metadata import PackageNotFoundError, version

    for name, pin in applicable(dev_lock).items():
        try:
            installed = Version(version(name))
        except PackageNotFoundError:
            pytest.fail(f"{name} {pin.version} is locked but not installed: rerun `make deps`")
        assert installed == pin.version, f"{name}: {installed} installed, {pin.version} locked: rerun `make deps`"


def test_the_makefile_installs_only_the_locks_with_hashes():
    text = MAKEFILE.read_text(encoding="utf-8")
    installs = re.findall(r"^\t.*pip install .*$", text, flags=re.M)
    # The repository's own Python client is installed from its directory, without dependencies
    # (it has none at run time): nothing it installs comes from outside the locks.
    own = [line for line in installs if line.rstrip().endswith("--no-deps ./clients/python")]
    assert len(own) == 1, installs
    installs = [line for line in installs if line not in own]
    assert len(installs) == 2, installs
    for line in installs:
        assert "--require-hashes" in line, line
        assert re.search(r"-r requirements-(dev|deploy)\.lock\b", line), line
    assert re.search(r"^\$\(VENV\)/\.installed: requirements-dev\.lock$", text, flags=re.M)
    assert re.search(r"^\$\(VENV\)/\.deploy-installed: requirements-deploy\.lock ", text, flags=re.M)
    lock_recipe = re.search(r"^lock:.*\n((?:\t.*\n)+)", text, flags=re.M)
    assert lock_recipe, "no `make lock` target"
    assert "-o requirements-deploy.lock" in lock_recipe.group(1)
    assert "-o requirements-dev.lock" in lock_recipe.group(1)
