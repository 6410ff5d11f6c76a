"""The remembered "KVM does not boot here" verdict: tied to the host and guest it was found on, expiring,
and read by a new microVM driver so a restart goes straight to TCG."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pentad.engines.sandbox.kvm_verdict import host_fingerprint, kvm_known_broken, remember_kvm_broken
from pentad.engines.sandbox.microvm import MicroVmDriver
from pentad.engines.sandbox.settings import SandboxSettings

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_a_verdict_holds_for_its_host_and_guest_for_a_day(tmp_path: Path) -> None:
    verdict = tmp_path / "kvm-verdict.json"
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(b"kernel")
    here = host_fingerprint("true", kernel)
    assert not kvm_known_broken(verdict, here, NOW)  # nothing remembered yet
    remember_kvm_broken(verdict, here, NOW)
    assert kvm_known_broken(verdict, here, NOW + timedelta(hours=23))
    assert not kvm_known_broken(verdict, here, NOW + timedelta(hours=25))  # expired: try KVM again
    assert not kvm_known_broken(verdict, host_fingerprint("false", kernel), NOW)  # another QEMU
    assert not kvm_known_broken(verdict, host_fingerprint("true", tmp_path / "other"), NOW)  # another guest
    assert not kvm_known_broken(verdict, here, NOW - timedelta(hours=1))  # written "in the future"


def test_a_damaged_or_unwritable_verdict_is_no_verdict(tmp_path: Path) -> None:
    verdict = tmp_path / "kvm-verdict.json"
    for text in ("", "not json", "[]", '{"fingerprint": "x"}', '{"fingerprint": "x", "failed_at": 3}'):
        verdict.write_text(text)
        assert not kvm_known_broken(verdict, "x", NOW)
    remember_kvm_broken(tmp_path / "missing-dir" / "kvm-verdict.json", "x", NOW)  # no error raised


def test_a_new_driver_goes_straight_to_tcg_when_kvm_failed_before(tmp_path: Path) -> None:
    kernel, initramfs = tmp_path / "vmlinuz", tmp_path / "initramfs.cpio.gz"
    kernel.write_bytes(b"kernel")
    initramfs.write_bytes(b"initramfs")
    settings = SandboxSettings(
        driver="microvm", microvm={"qemu_binary": "true", "kernel_path": kernel, "rootfs_path": initramfs}
    )
    fresh = MicroVmDriver(settings, tmp_path)
    assert "KVM did not boot" not in (fresh.capabilities().detail or "")
    remember_kvm_broken(tmp_path / "kvm-verdict.json", host_fingerprint("true", kernel), datetime.now(UTC))
    restarted = MicroVmDriver(settings, tmp_path)
    assert restarted.accelerator() == "tcg"
    assert "KVM did not boot" in (restarted.capabilities().detail or "")
