"""cgroup detection on this host and on described hosts; the microVM driver's honest refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from pentad.engines.sandbox.cgroups import CgroupManager
from pentad.engines.sandbox.errors import SandboxUnavailable
from pentad.engines.sandbox.factory import build_driver
from pentad.engines.sandbox.microvm import MicroVmDriver, host_tsc_khz, kernel_args, qemu_argv
from pentad.engines.sandbox.models import VmSpec
from pentad.engines.sandbox.settings import SandboxSettings


def test_detects_this_host() -> None:
    manager = CgroupManager.detect()
    assert manager.version in ("v1", "v2", "hybrid", "none")
    assert set(manager.enforcement()) <= {"memory", "pids", "cpu"}
    assert CgroupManager.detect("none").enforcement() == {}


def test_no_cgroup_mounts_means_nothing_enforced(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text("proc /proc proc rw 0 0\n")
    own = tmp_path / "cgroup"
    own.write_text("0::/\n")
    manager = CgroupManager.detect(mounts_file=mounts, cgroup_file=own)
    assert (manager.version, manager.enforcement()) == ("none", {})


def test_unwritable_v2_hierarchy_is_not_reported(tmp_path: Path) -> None:
    # a cgroup2 mount whose controllers list is empty enforces nothing, whatever is mounted
    root = tmp_path / "unified"
    root.mkdir()
    (root / "cgroup.controllers").write_text("\n")
    mounts = tmp_path / "mounts"
    mounts.write_text(f"cgroup2 {root} cgroup2 rw 0 0\n")
    own = tmp_path / "cgroup"
    own.write_text("0::/\n")
    assert CgroupManager.detect("v2", mounts_file=mounts, cgroup_file=own).enforcement() == {}


async def test_microvm_refuses_with_what_is_missing(tmp_path: Path) -> None:
    settings = SandboxSettings(driver="microvm", microvm={"qemu_binary": "/nonexistent/qemu"})
    driver = build_driver(settings, tmp_path)
    assert isinstance(driver, MicroVmDriver)
    assert not driver.capabilities().available
    with pytest.raises(SandboxUnavailable) as refused:
        await driver.create(VmSpec(name="x"))
    assert refused.value.status == 503
    assert "kernel_path" in refused.value.message
    assert "/nonexistent/qemu not found" in refused.value.message


def test_qemu_command_line(tmp_path: Path) -> None:
    settings = SandboxSettings(microvm={"kernel_path": "/k/vmlinux", "rootfs_path": "/k/rootfs.ext4"})
    argv = qemu_argv(
        settings,
        VmSpec(name="x", vcpus=2, memory_mb=256),
        console_socket=tmp_path / "c.sock",
        qmp_socket=tmp_path / "q.sock",
        accelerator="tcg",
    )
    joined = " ".join(argv)
    assert "-M microvm" in joined
    assert "-accel tcg" in joined
    assert "-smp 2" in joined
    assert "-m 256M" in joined
    assert f"unix:{tmp_path / 'q.sock'}" in joined
    assert f"unix:{tmp_path / 'c.sock'}" in joined
    assert "-initrd /k/rootfs.ext4" in joined
    assert "-netdev" not in joined  # no network device at all


def test_tcg_guests_are_told_the_tsc_rate_kvm_guests_are_not(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Example CPU\ncpu MHz\t\t: 2100.000\n")
    assert host_tsc_khz(cpuinfo) == 2_100_000
    cpuinfo.write_text("processor\t: 0\nBogoMIPS\t: 50.00\n")  # an arm64 host says nothing
    assert host_tsc_khz(cpuinfo) is None

    fixed = SandboxSettings(microvm={"tcg_tsc_khz": 1_500_000})
    assert kernel_args(fixed, "tcg").endswith(" tsc_early_khz=1500000")
    assert "tsc_early_khz" not in kernel_args(fixed, "kvm")
    calibrate = SandboxSettings(microvm={"tcg_tsc_khz": 0})
    assert "tsc_early_khz" not in kernel_args(calibrate, "tcg")
    argv = qemu_argv(
        fixed,
        VmSpec(name="x"),
        console_socket=tmp_path / "c.sock",
        qmp_socket=tmp_path / "q.sock",
        accelerator="tcg",
    )
    assert argv[argv.index("-append") + 1].startswith("console=ttyS0")
    assert "tsc_early_khz=1500000" in argv[argv.index("-append") + 1]
