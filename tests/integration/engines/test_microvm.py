"""The microVM driver on a real QEMU `-M microvm` guest built by scripts/build-microvm-image: one VM for
the module (boots take seconds under software emulation), argv execution, streams, exit codes, stdin,
env and cwd, timeouts, output caps, isolation from the host, then destroy."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from pentad.engines.sandbox import ExecResult, OutputChunk, VmNotRunning, VmSpec
from pentad.engines.sandbox.microvm import MicroVmDriver
from pentad.engines.sandbox.settings import SandboxSettings

ROOT = Path(__file__).resolve().parents[3]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="QEMU is not installed here"),
    pytest.mark.skipif(
        not any(Path("/boot").glob("vmlinuz-*")),
        reason="no kernel in /boot (apt-get install linux-image-amd64)",
    ),
]


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("microvm")
    subprocess.run([str(ROOT / "scripts" / "build-microvm-image"), str(out)], check=True, timeout=600)
    return out


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def vm(
    image: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[MicroVmDriver, str]]:
    settings = SandboxSettings(
        driver="microvm",
        output_cap_bytes=4096,
        microvm={"kernel_path": image / "vmlinuz", "rootfs_path": image / "initramfs.cpio.gz"},
    )
    driver = MicroVmDriver(settings, tmp_path_factory.mktemp("vms"))
    info = await driver.create(VmSpec(name="test-vm", memory_mb=256))
    assert info.kernel_path == str(image / "vmlinuz")
    assert info.rootfs_path == str(image / "initramfs.cpio.gz")
    assert info.socket_path is not None
    started = await driver.start(info.id)
    assert started.status == "running"
    assert started.metadata["accelerator"] in ("kvm", "tcg")
    yield driver, info.id
    await driver.destroy(info.id)


async def test_runs_argv_never_a_shell(vm: tuple[MicroVmDriver, str]) -> None:
    driver, vm_id = vm
    result = await driver.exec(vm_id, "echo", ["hello", "$(whoami)", "; rm -rf /"])
    assert result.exit_code == 0
    assert result.stdout == "hello $(whoami) ; rm -rf /\n"
    missing = await driver.exec(vm_id, "no-such-program", [])
    assert missing.exit_code == 127


async def test_streams_exit_codes_stdin_env_cwd(vm: tuple[MicroVmDriver, str]) -> None:
    driver, vm_id = vm
    events = [
        event async for event in driver.exec_stream(vm_id, "sh", ["-c", "echo out; echo err >&2; exit 3"])
    ]
    chunks = [(e.stream, e.data) for e in events if isinstance(e, OutputChunk)]
    assert ("stdout", b"out\n") in chunks
    assert ("stderr", b"err\n") in chunks
    final = events[-1]
    assert isinstance(final, ExecResult)
    assert (final.exit_code, final.stdout, final.stderr) == (3, "out\n", "err\n")
    piped = await driver.exec(vm_id, "wc", ["-c"], stdin=b"x" * 1000)
    assert piped.stdout.strip() == "1000"
    located = await driver.exec(
        vm_id, "sh", ["-c", 'echo "$PWD $GREETING"'], cwd="/tmp", env={"GREETING": "hi"}
    )
    assert located.stdout == "/tmp hi\n"


async def test_timeouts_and_output_caps(vm: tuple[MicroVmDriver, str]) -> None:
    driver, vm_id = vm
    slow = await driver.exec(vm_id, "sleep", ["30"], timeout_s=1)
    assert slow.timed_out
    assert slow.exit_code == 137  # SIGKILL, as shells report it
    flood = await driver.exec(vm_id, "sh", ["-c", "yes | head -c 100000"])
    assert flood.stdout_truncated
    assert len(flood.stdout) == 4096
    assert flood.stdout_bytes == 100000
    after = await driver.exec(vm_id, "echo", ["still alive"])
    assert after.stdout == "still alive\n"


async def test_the_host_is_out_of_reach(vm: tuple[MicroVmDriver, str], tmp_path: Path) -> None:
    driver, vm_id = vm
    marker = tmp_path / "host-secret.txt"
    marker.write_text("only on the host")
    for path in (str(ROOT), str(marker), "/etc/passwd", "/var/lib"):
        probe = await driver.exec(vm_id, "ls", [path])
        assert probe.exit_code != 0, path
    network = await driver.exec(vm_id, "ls", ["/sys/class/net"])
    assert network.stdout.split() == ["lo"]  # no network device
    kernel = await driver.exec(vm_id, "uname", ["-r"])
    assert kernel.stdout.strip() == Path(next(Path("/boot").glob("vmlinuz-*"))).name.removeprefix("vmlinuz-")


async def test_stop_then_destroy(image: Path, tmp_path: Path) -> None:
    settings = SandboxSettings(
        driver="microvm",
        microvm={
            "kernel_path": image / "vmlinuz",
            "rootfs_path": image / "initramfs.cpio.gz",
            "accelerator": "tcg",
        },
    )
    driver = MicroVmDriver(settings, tmp_path)
    info = await driver.create(VmSpec(name="short-lived", memory_mb=128))
    await driver.start(info.id)
    pid = int((tmp_path / info.id / "qemu.pid").read_text())
    stopped = await driver.stop(info.id)
    assert stopped.status == "stopped"
    assert not Path(f"/proc/{pid}").exists()
    with pytest.raises(VmNotRunning):
        await driver.exec(info.id, "true", [])
    await driver.destroy(info.id)
    assert not (tmp_path / info.id).exists()
    assert await driver.list_vms() == []
