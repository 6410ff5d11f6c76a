"""Sandbox benchmark: create-to-ready, exec round trip against a bare subprocess, concurrent creates.

Run: .venv/bin/python bench/bench_sandbox.py [--n 200] [--loop uvloop|asyncio] [--microvm IMAGE_DIR].
Needs bubblewrap; run as root for per-VM uids and cgroups. Goals: create-to-ready p50 < 150 ms, exec
overhead (driver p50 - bare p50) < 10 ms. The default loop is uvloop, the one `pentad serve` runs on.
`--microvm` also boots QEMU microVMs from an image built by scripts/build-microvm-image.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from pentad.engines.sandbox.microvm import MicroVmDriver
from pentad.engines.sandbox.models import VmSpec
from pentad.engines.sandbox.namespace import NamespaceDriver
from pentad.engines.sandbox.settings import SandboxSettings


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def line(label: str, samples: list[float]) -> str:
    return (
        f"{label:<34} p50 {pct(samples, 0.5):7.2f} ms   p99 {pct(samples, 0.99):7.2f} ms   (n={len(samples)})"
    )


async def microvm(image: Path, n: int) -> None:
    base = Path(tempfile.mkdtemp(prefix="pentad-bench-microvm-", dir="/tmp"))
    settings = SandboxSettings(
        driver="microvm",
        microvm={"kernel_path": image / "vmlinuz", "rootfs_path": image / "initramfs.cpio.gz"},
    )
    driver = MicroVmDriver(settings, base)
    try:
        boots: list[float] = []
        accelerator = "?"
        for i in range(3):
            started = time.perf_counter()
            vm = await driver.create(VmSpec(name=f"micro-{i}", memory_mb=256))
            info = await driver.start(vm.id)
            boots.append((time.perf_counter() - started) * 1000)
            accelerator = str(info.metadata.get("accelerator"))
        # the first boot includes the one-off KVM attempt when /dev/kvm exists but hangs
        print(line(f"microvm create-to-ready ({accelerator})", boots))
        execs: list[float] = []
        for _ in range(n):
            started = time.perf_counter()
            await driver.exec(vm.id, "true", [])
            execs.append((time.perf_counter() - started) * 1000)
        print(line("microvm exec `true`", execs))
    finally:
        for vm_info in await driver.list_vms():
            await driver.destroy(vm_info.id)
        shutil.rmtree(base, ignore_errors=True)


async def main(n: int, concurrency: int, image: Path | None) -> None:
    base = Path(tempfile.mkdtemp(prefix="pentad-bench-", dir="/tmp"))
    base.chmod(0o711)
    driver = NamespaceDriver(SandboxSettings(), base)
    caps = driver.capabilities()
    print(f"loop {type(asyncio.get_running_loop()).__module__}")
    print(f"bwrap {caps.version}, cgroup {caps.cgroup}, uids {caps.uid_isolation}, limits {caps.limits}")
    try:
        ready: list[float] = []
        ids = []
        for i in range(n // 4 or 1):
            started = time.perf_counter()
            vm = await driver.create(VmSpec(name=f"bench-{i}"))
            await driver.start(vm.id)
            ready.append((time.perf_counter() - started) * 1000)
            ids.append(vm.id)
        first_exec: list[float] = []
        for vm_id in ids[:20]:
            started = time.perf_counter()
            await driver.exec(vm_id, "true", [])
            first_exec.append((time.perf_counter() - started) * 1000)
        print(line("create-to-ready (create+start)", ready))
        print(line("create-to-first-exec `true`", [r + e for r, e in zip(ready, first_exec, strict=False)]))

        vm_id = ids[0]
        # the floor: bwrap with the same namespaces and no mounts beyond /usr, no limits, no asyncio
        floor: list[float] = []
        minimal = ["bwrap", "--unshare-all", "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin"]
        minimal += ["--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--proc", "/proc"]
        for _ in range(n):
            started = time.perf_counter()
            subprocess.run([*minimal, "--dev", "/dev", "true"], capture_output=True, check=True)
            floor.append((time.perf_counter() - started) * 1000)
        print(line("bare bwrap --unshare-all `true`", floor))
        for argv in (["true"], ["echo", "hi"]):
            bare: list[float] = []
            sandboxed: list[float] = []
            for _ in range(n):
                started = time.perf_counter()
                subprocess.run(argv, capture_output=True, check=True)
                bare.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                await driver.exec(vm_id, argv[0], argv[1:])
                sandboxed.append((time.perf_counter() - started) * 1000)
            name = " ".join(argv)
            print(line(f"bare subprocess.run `{name}`", bare))
            print(line(f"namespace driver exec `{name}`", sandboxed))
            print(f"{'':<34} overhead p50 {pct(sandboxed, 0.5) - pct(bare, 0.5):7.2f} ms")

        async def make(i: int) -> str:
            vm = await driver.create(VmSpec(name=f"c-{i}"))
            await driver.start(vm.id)
            return vm.id

        total = concurrency * 5
        started = time.perf_counter()
        for batch in range(5):
            ids += await asyncio.gather(*(make(batch * concurrency + i) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
        print(f"concurrent creates ({concurrency} at a time)      {total / elapsed:7.1f} VMs/s")
    finally:
        for vm in await driver.list_vms():
            await driver.destroy(vm.id)
        shutil.rmtree(base, ignore_errors=True)
    if image is not None:
        await microvm(image, min(n, 50))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--microvm", type=Path, default=None, help="an image dir from build-microvm-image")
    options = parser.parse_args()
    if options.loop == "uvloop":
        import uvloop

        uvloop.install()
    asyncio.run(main(options.n, options.concurrency, options.microvm))
