"""Resource limits through cgroups: detect what this host really offers (v2, v1, both or neither).

Every VM gets one cgroup per usable controller (memory, pids, cpu), nested under the service's own cgroup
so the limits the service itself runs under still bound its sandboxes. A controller counts as usable only
after a probe cgroup accepted a limit: a mounted hierarchy that refuses writes (as cgroup v2 does on hosts
that delegate no controllers) is reported as not enforcing anything.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

CONTROLLERS = ("memory", "pids", "cpu")
CPU_PERIOD_US = 100_000
_GROUP = "pentad-sandbox"


@dataclass(frozen=True, slots=True)
class ControllerRoot:
    controller: str
    version: Literal[1, 2]
    parent: Path  # VM cgroups are created as children of this directory

    @property
    def label(self) -> str:
        return f"cgroup-v{self.version}"


def _mounts(mounts_file: Path) -> list[tuple[Path, str, set[str]]]:
    found: list[tuple[Path, str, set[str]]] = []
    for line in mounts_file.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2] in ("cgroup", "cgroup2"):
            found.append((Path(parts[1]), parts[2], set(parts[3].split(","))))
    return found


def _own_paths(cgroup_file: Path) -> dict[str, str]:
    """controller (or "" for the v2 unified hierarchy) -> this process's cgroup path in it."""
    paths: dict[str, str] = {}
    for line in cgroup_file.read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            paths[name] = path
    return paths


def _write(path: Path, value: str) -> None:
    # cgroup files want one write() of the whole value; buffered text I/O could split it
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _probe(parent: Path, controller: str, version: int) -> bool:
    """Whether a child cgroup under `parent` accepts a limit for `controller`."""
    probe = parent / f"probe-{os.getpid()}"
    try:
        probe.mkdir(parents=True, exist_ok=True)
        limit_file = {
            (1, "memory"): ("memory.limit_in_bytes", str(1 << 30)),
            (1, "pids"): ("pids.max", "1000"),
            (1, "cpu"): ("cpu.cfs_quota_us", str(CPU_PERIOD_US)),
            (2, "memory"): ("memory.max", str(1 << 30)),
            (2, "pids"): ("pids.max", "1000"),
            (2, "cpu"): ("cpu.max", f"{CPU_PERIOD_US} {CPU_PERIOD_US}"),
        }[(version, controller)]
        _write(probe / limit_file[0], limit_file[1])
        return True
    except OSError:
        return False
    finally:
        with contextlib.suppress(OSError):
            probe.rmdir()


def _detect_v2(mount: Path, own: str, wanted: set[str]) -> dict[str, ControllerRoot]:
    base = mount / own.lstrip("/")
    available = set((base / "cgroup.controllers").read_text().split()) if base.exists() else set()
    wanted = wanted & available
    if not wanted:
        return {}
    parent = base / _GROUP
    try:
        parent.mkdir(exist_ok=True)
        # v2 only lets a cgroup hand controllers down if it holds no processes itself; a delegated
        # (empty) service cgroup passes, a busy one is refused and we fall back
        for directory in (base, parent):
            with contextlib.suppress(OSError):
                _write(directory / "cgroup.subtree_control", " ".join(f"+{c}" for c in sorted(wanted)))
    except OSError:
        return {}
    return {c: ControllerRoot(c, 2, parent) for c in wanted if _probe(parent, c, 2)}


def _detect_v1(mounts: list[tuple[Path, str, set[str]]], own: dict[str, str]) -> dict[str, ControllerRoot]:
    roots: dict[str, ControllerRoot] = {}
    for mount, kind, options in mounts:
        if kind != "cgroup":
            continue
        for controller in CONTROLLERS:
            if controller in options and controller not in roots:
                parent = mount / own.get(controller, "/").lstrip("/") / _GROUP
                if _probe(parent, controller, 1):
                    roots[controller] = ControllerRoot(controller, 1, parent)
    return roots


class VmCgroup:
    """The cgroups of one VM, one per controller; every exec of the VM joins all of them."""

    def __init__(self, paths: dict[str, tuple[Path, int]]) -> None:
        self.paths = paths  # controller -> (directory, version)

    def _directories(self) -> list[Path]:
        return sorted({path for path, _ in self.paths.values()})

    def add(self, pid: int) -> None:
        for directory in self._directories():
            _write(directory / "cgroup.procs", str(pid))

    def pids(self) -> set[int]:
        found: set[int] = set()
        for directory in self._directories():
            with contextlib.suppress(OSError):
                found.update(int(p) for p in (directory / "cgroup.procs").read_text().split())
        return found

    def kill_all(self) -> None:
        # v1 has no cgroup.kill: SIGKILL what is there until nothing is left (forks race the reads)
        for _ in range(50):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def oom_kills(self) -> int:
        entry = self.paths.get("memory")
        if entry is None:
            return 0
        directory, version = entry
        name = "memory.oom_control" if version == 1 else "memory.events"
        with contextlib.suppress(OSError):
            for line in (directory / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        return 0

    def remove(self) -> None:
        self.kill_all()
        for directory in self._directories():
            for _ in range(50):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)  # the last killed tasks are still being reaped


class CgroupManager:
    def __init__(self, roots: dict[str, ControllerRoot]) -> None:
        self.roots = roots

    @classmethod
    def detect(
        cls,
        preference: Literal["auto", "v2", "v1", "none"] = "auto",
        *,
        mounts_file: Path = Path("/proc/self/mounts"),
        cgroup_file: Path = Path("/proc/self/cgroup"),
    ) -> CgroupManager:
        if preference == "none" or not mounts_file.exists():
            return cls({})
        mounts = _mounts(mounts_file)
        own = _own_paths(cgroup_file)
        roots: dict[str, ControllerRoot] = {}
        if preference in ("auto", "v2"):
            for mount, kind, _ in mounts:
                if kind == "cgroup2":
                    roots.update(_detect_v2(mount, own.get("", "/"), set(CONTROLLERS)))
                    break
        if preference in ("auto", "v1"):
            for controller, root in _detect_v1(mounts, own).items():
                roots.setdefault(controller, root)
        return cls(roots)

    @property
    def version(self) -> Literal["v2", "v1", "hybrid", "none"]:
        versions = {root.version for root in self.roots.values()}
        if not versions:
            return "none"
        if versions == {1, 2}:
            return "hybrid"
        return "v2" if versions == {2} else "v1"

    def enforcement(self) -> dict[str, str]:
        return {c: self.roots[c].label for c in CONTROLLERS if c in self.roots}

    def _paths(self, vm_id: str) -> dict[str, tuple[Path, int]]:
        return {c: (root.parent / vm_id, root.version) for c, root in self.roots.items()}

    def create(self, vm_id: str, *, memory_mb: int, vcpus: int, pids_max: int) -> VmCgroup:
        paths = self._paths(vm_id)
        for controller, (directory, version) in paths.items():
            directory.mkdir(parents=True, exist_ok=True)
            if controller == "memory":
                limit = str(memory_mb * 1024 * 1024)
                if version == 1:
                    _write(directory / "memory.limit_in_bytes", limit)
                    # memsw bounds memory + swap; absent when the kernel does not account swap
                    with contextlib.suppress(OSError):
                        _write(directory / "memory.memsw.limit_in_bytes", limit)
                else:
                    _write(directory / "memory.max", limit)
                    with contextlib.suppress(OSError):
                        _write(directory / "memory.swap.max", "0")
            elif controller == "pids":
                _write(directory / "pids.max", str(pids_max))
            elif version == 1:
                _write(directory / "cpu.cfs_period_us", str(CPU_PERIOD_US))
                _write(directory / "cpu.cfs_quota_us", str(vcpus * CPU_PERIOD_US))
            else:
                _write(directory / "cpu.max", f"{vcpus * CPU_PERIOD_US} {CPU_PERIOD_US}")
        return VmCgroup(paths)

    def open(self, vm_id: str) -> VmCgroup:
        return VmCgroup(self._paths(vm_id))
