"""The default driver: every VM is a directory plus bubblewrap namespaces.

Layout of a VM on the host (`<base_dir>/<id>/`, root-owned, mode 0711):
    meta.json   the VM's record (spec, status, resolved tools, host uid), so VMs survive a restart
    etc/        passwd, group, hosts, hostname made for this VM, mounted read-only over /etc
    layer/      the private writable layer, owned by the VM's host uid, mode 0700:
                home/ -> /home, work/ -> /work, tmp/ -> /tmp

Each exec is a fresh `bwrap` (new user, pid, mount, net, ipc, uts and cgroup namespaces, no capabilities,
a read-only root) over that layer; files persist between execs, processes do not. See docs/sandbox.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from pentad.core.errors import BadRequest, Conflict
from pentad.engines.sandbox.cgroups import CgroupManager, VmCgroup
from pentad.engines.sandbox.errors import InvalidExec, SandboxUnavailable, VmNotFound, VmNotRunning
from pentad.engines.sandbox.models import (
    ExecEvent,
    ExecRequest,
    ExecResult,
    HostCapabilities,
    VmInfo,
    VmSpec,
    VmStatus,
)
from pentad.engines.sandbox.runner import Execution
from pentad.engines.sandbox.settings import SandboxSettings
from pentad.engines.sandbox.tools import ResolvedTool, ToolCatalogue

SANDBOX_UID = 1000
SANDBOX_USER = "sandbox"
SANDBOX_HOME = f"/home/{SANDBOX_USER}"
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Host top-level entries that are (on merged-/usr systems) symlinks into /usr, else read-only dirs.
SYSTEM_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# The parts of /etc a toolchain needs; nothing with credentials (shadow, ssh, ssl/private, pip.conf,
# npmrc, gitconfig, the service's own config).
SAFE_ETC = (
    "alternatives",
    "ca-certificates",
    "ca-certificates.conf",
    "ssl/certs",
    "ssl/openssl.cnf",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "timezone",
    "nsswitch.conf",
    "host.conf",
    "gai.conf",
    "protocols",
    "services",
    "networks",
    "mime.types",
    "magic",
    "os-release",
    "debian_version",
    "shells",
    "profile",
    "bash.bashrc",
    "inputrc",
    "terminfo",
    "python3",
    "python3.11",
    "perl",
)
_META = "meta.json"
_SHARED_ETC = ".etc"  # under base_dir: VM ids are UUIDs, so no VM directory can take this name
_VM_ETC_FILES = ("passwd", "group", "hostname", "hosts", "resolv.conf")


def _now() -> datetime:
    return datetime.now(UTC)


def _traversable_by_others(path: Path) -> str | None:
    """The first ancestor of `path` that a foreign uid cannot enter, or None if all can be."""
    for directory in [path, *path.parents]:
        with contextlib.suppress(FileNotFoundError):
            if not directory.stat().st_mode & 0o001:
                return str(directory)
    return None


@dataclass
class _Vm:
    info: VmInfo
    directory: Path
    tools: list[ResolvedTool]
    cgroup: VmCgroup | None = None
    prefix: list[str] | None = None  # bwrap argv up to the per-exec part, built once
    executions: set[Execution] = field(default_factory=set)

    @property
    def layer(self) -> Path:
        return self.directory / "layer"


class NamespaceDriver:
    name = "namespace"

    def __init__(self, settings: SandboxSettings, base_dir: Path) -> None:
        self.settings = settings
        self.base_dir = base_dir.resolve()
        self.catalogue = ToolCatalogue(settings.tools)
        self._vms: dict[str, _Vm] = {}
        self._used_uids: set[int] = set()
        self._bwrap = shutil.which(settings.bwrap_binary)
        self._prlimit = shutil.which(settings.prlimit_binary)
        self._version = self._bwrap_version()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.base_dir.chmod(0o711)  # VM uids may enter their own VM directory, never list the others
        self.cgroups = CgroupManager.detect(settings.cgroup)
        self.uid_isolation, self.uid_detail = self._choose_uid_mode()
        self._shared_etc = self._build_shared_etc()
        self._load_all()

    # ---------------------------------------------------------------- host facts

    def _bwrap_version(self) -> str | None:
        if self._bwrap is None:
            return None
        try:
            done = subprocess.run(  # noqa: S603 - fixed argv, resolved binary
                [self._bwrap, "--version"], capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip().removeprefix("bubblewrap ") or None

    def _choose_uid_mode(self) -> tuple[str, str | None]:
        wanted = self.settings.uid_isolation
        if wanted == "off":
            return "off", "disabled in settings"
        blocker = _traversable_by_others(self.base_dir)
        reason = None
        if os.geteuid() != 0:
            reason = "the service does not run as root, so it cannot switch to per-VM uids"
        elif blocker is not None:
            reason = f"{blocker} is not traversable by other users (chmod o+x it for per-VM uids)"
        if reason is None:
            return "per-vm", None
        if wanted == "per-vm":
            raise SandboxUnavailable(f"uid_isolation=per-vm is impossible here: {reason}")
        return "off", reason

    def _limit_report(self, *, network: bool) -> dict[str, str]:
        enforced = self.cgroups.enforcement()
        per_vm = self.uid_isolation == "per-vm"
        pids = enforced.get("pids") or ("rlimit-nproc" if per_vm and self._prlimit else "not-enforced")
        memory = enforced.get("memory") or ("rlimit-as" if self._prlimit else "not-enforced")
        return {
            "memory": memory,
            "cpu": enforced.get("cpu", "not-enforced"),
            "pids": pids,
            "cpu_time": "rlimit-cpu" if self._prlimit else "not-enforced",
            "file_size": "rlimit-fsize" if self._prlimit else "not-enforced",
            "disk": "not-enforced",
            "wall_clock": "enforced",
            "output": "enforced",
            "network": "host-shared" if network else "isolated",
            "uid": "per-vm-uid" if per_vm else "shared-uid",
        }

    def capabilities(self) -> HostCapabilities:
        available = self._bwrap is not None
        detail = None if available else f"{self.settings.bwrap_binary} not found (apt-get install bubblewrap)"
        if available and self.uid_detail and self.uid_isolation == "off":
            detail = f"per-VM uids off: {self.uid_detail}"
        return HostCapabilities(
            driver=self.name,
            available=available,
            detail=detail,
            version=self._version,
            cgroup=self.cgroups.version,
            uid_isolation="per-vm" if self.uid_isolation == "per-vm" else "off",
            limits=self._limit_report(network=False),
        )

    def _build_shared_etc(self) -> Path:
        """A copy of the safe parts of /etc, mounted as the VMs' /etc with one bind instead of ~30.

        Each bind costs bwrap ~0.1 ms per exec; the copy is refreshed whenever the driver starts.
        """
        target = self.base_dir / _SHARED_ETC
        staging = self.base_dir / f"{_SHARED_ETC}-{uuid.uuid4().hex}"
        staging.mkdir(mode=0o755)
        for entry in SAFE_ETC:
            source = Path("/etc") / entry
            destination = staging / entry
            destination.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            with contextlib.suppress(OSError):
                if source.is_dir() and not source.is_symlink():
                    shutil.copytree(source, destination, symlinks=True)
                elif source.is_symlink():
                    destination.symlink_to(os.readlink(source))
                elif source.is_file():
                    shutil.copy2(source, destination)
        for name in _VM_ETC_FILES:  # mount points for the per-VM files bound on top
            (staging / name).touch(mode=0o644)
        for path in (staging, *staging.rglob("*")):
            if not path.is_symlink():
                path.chmod((path.stat().st_mode & 0o755) | (0o755 if path.is_dir() else 0o444))
        old = self.base_dir / f"{_SHARED_ETC}-old-{uuid.uuid4().hex}"
        with contextlib.suppress(FileNotFoundError):
            target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
        return target

    # ---------------------------------------------------------------- records

    def _vm_dir(self, vm_id: str) -> Path:
        return self.base_dir / vm_id

    def _save(self, vm: _Vm) -> None:
        record = {"info": vm.info.model_dump(mode="json"), "tools": [t.model_dump() for t in vm.tools]}
        tmp = vm.directory / f"{_META}.tmp"
        tmp.write_text(json.dumps(record))
        tmp.chmod(0o600)
        tmp.replace(vm.directory / _META)

    def _load(self, directory: Path) -> _Vm | None:
        try:
            record = json.loads((directory / _META).read_text())
            info = VmInfo.model_validate(record["info"])
            tools = [ResolvedTool.model_validate(t) for t in record["tools"]]
        except (OSError, ValueError, KeyError, ValidationError):
            return None
        return _Vm(info=info, directory=directory, tools=tools)

    def _load_all(self) -> None:
        for directory in self.base_dir.iterdir():
            if directory.name.startswith(_SHARED_ETC):
                continue
            vm = self._load(directory) if directory.is_dir() else None
            if vm is not None:
                self._vms[vm.info.id] = vm
                if vm.info.host_uid is not None:
                    self._used_uids.add(vm.info.host_uid)

    def _get(self, vm_id: str) -> _Vm:
        vm = self._vms.get(vm_id)
        if vm is None:
            raise VmNotFound(vm_id)
        return vm

    async def list_vms(self) -> list[VmInfo]:
        return [vm.info for vm in self._vms.values()]

    async def status(self, vm_id: str) -> VmInfo:
        return self._get(vm_id).info

    # ---------------------------------------------------------------- lifecycle

    def _require_available(self) -> str:
        if self._bwrap is None:
            raise SandboxUnavailable(
                f"The namespace sandbox needs bubblewrap: {self.settings.bwrap_binary} was not found"
            )
        return self._bwrap

    def _allocate_uid(self) -> int | None:
        if self.uid_isolation != "per-vm":
            return None
        for offset in range(self.settings.uid_count):
            uid = self.settings.uid_base + offset
            if uid not in self._used_uids:
                self._used_uids.add(uid)
                return uid
        raise SandboxUnavailable("No free sandbox uid: destroy some VMs or raise sandbox.uid_count")

    def _write_etc(self, directory: Path, hostname: str) -> None:
        etc = directory / "etc"
        etc.mkdir(mode=0o755)
        files = {
            "passwd": (
                "root:x:0:0:root:/root:/usr/sbin/nologin\n"
                f"{SANDBOX_USER}:x:{SANDBOX_UID}:{SANDBOX_UID}:{SANDBOX_USER}:{SANDBOX_HOME}:/bin/sh\n"
                "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
            ),
            "group": f"root:x:0:\n{SANDBOX_USER}:x:{SANDBOX_UID}:\nnogroup:x:65534:\n",
            "hostname": f"{hostname}\n",
            "hosts": f"127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n::1\tlocalhost ip6-localhost\n",
        }
        for name, text in files.items():
            (etc / name).write_text(text)
            (etc / name).chmod(0o644)

    def _make_layer(self, vm: _Vm) -> None:
        uid = vm.info.host_uid
        owner = (uid, uid) if uid is not None else None
        layer = vm.layer
        layer.mkdir(mode=0o700)
        for sub in ("home", f"home/{SANDBOX_USER}", "work", "tmp"):
            (layer / sub).mkdir(mode=0o755)
        (layer / "tmp").chmod(0o1777)
        if owner is not None:
            for path in (layer, *layer.rglob("*")):
                os.chown(path, *owner)

    async def create(self, spec: VmSpec, *, vm_id: str | None = None) -> VmInfo:
        self._require_available()
        if vm_id is None:
            vm_id = str(uuid.uuid4())
        else:
            try:  # the id names a directory: only a canonical UUID may reach the filesystem
                vm_id = str(uuid.UUID(vm_id))
            except ValueError as exc:
                raise BadRequest(f"Invalid VM ID: {vm_id!r} is not a valid UUID") from exc
        if vm_id in self._vms or self._vm_dir(vm_id).exists():
            raise Conflict(f"VM '{vm_id}' already exists")
        if spec.network and not self.settings.allow_network:
            raise BadRequest("Network access for VMs is disabled on this server")
        tools = self.catalogue.resolve_spec(
            self.settings.default_tools, spec.additional_tools, spec.tool_versions
        )
        uid = self._allocate_uid()
        directory = self._vm_dir(vm_id)
        info = VmInfo(
            id=vm_id,
            name=spec.name,
            status=VmStatus.CREATED,
            driver=self.name,
            hostname=spec.hostname(),
            vcpu_count=spec.vcpus,
            memory_mb=spec.memory_mb,
            pids_max=spec.pids_max or self.settings.default_pids_max,
            network=spec.network,
            tools=[t.info() for t in tools],
            limits=self._limit_report(network=spec.network),
            root_path=str(directory / "layer"),
            host_uid=uid,
            created_at=_now(),
            metadata=spec.metadata,
        )
        vm = _Vm(info=info, directory=directory, tools=tools)
        try:
            directory.mkdir(mode=0o711)
            self._write_etc(directory, info.hostname)
            self._make_layer(vm)
            self._save(vm)
        except OSError as exc:
            shutil.rmtree(directory, ignore_errors=True)
            if uid is not None:
                self._used_uids.discard(uid)
            raise SandboxUnavailable(f"Cannot create the VM's directory: {exc}") from exc
        self._vms[vm_id] = vm
        return info

    def _ensure_cgroup(self, vm: _Vm) -> None:
        if vm.cgroup is None and self.cgroups.roots:
            vm.cgroup = self.cgroups.create(
                vm.info.id, memory_mb=vm.info.memory_mb, vcpus=vm.info.vcpu_count, pids_max=vm.info.pids_max
            )

    async def start(self, vm_id: str) -> VmInfo:
        vm = self._get(vm_id)
        if vm.info.status == VmStatus.RUNNING:
            return vm.info
        try:
            self._ensure_cgroup(vm)
        except OSError as exc:
            raise SandboxUnavailable(f"Cannot set up the VM's cgroups: {exc}") from exc
        vm.info = vm.info.model_copy(
            update={"status": VmStatus.RUNNING, "started_at": _now(), "stopped_at": None}
        )
        self._save(vm)
        return vm.info

    def _kill_all(self, vm: _Vm) -> None:
        for execution in list(vm.executions):
            execution.kill()
        if vm.cgroup is not None:
            vm.cgroup.kill_all()

    async def stop(self, vm_id: str) -> VmInfo:
        vm = self._get(vm_id)
        self._kill_all(vm)
        if vm.info.status != VmStatus.STOPPED:
            vm.info = vm.info.model_copy(update={"status": VmStatus.STOPPED, "stopped_at": _now()})
            self._save(vm)
        return vm.info

    async def destroy(self, vm_id: str) -> None:
        vm = self._get(vm_id)
        del self._vms[vm_id]
        self._kill_all(vm)
        cgroup = vm.cgroup or (self.cgroups.open(vm_id) if self.cgroups.roots else None)
        if cgroup is not None:
            await asyncio.to_thread(cgroup.remove)
        await asyncio.to_thread(shutil.rmtree, vm.directory, True)
        if vm.info.host_uid is not None:
            self._used_uids.discard(vm.info.host_uid)

    async def close(self) -> None:
        """Kill every running command (VMs and their files stay)."""
        for vm in self._vms.values():
            for execution in list(vm.executions):
                execution.kill()

    # ---------------------------------------------------------------- exec

    def _prefix(self, vm: _Vm, bwrap: str, timeout_s: float) -> list[str]:
        info = vm.info
        limits: list[str] = []
        if self._prlimit is not None:
            fsize = self.settings.max_file_size_mb * 1024 * 1024
            cpu = math.ceil(timeout_s * info.vcpu_count) + 1
            limits = [self._prlimit, f"--fsize={fsize}:{fsize}", f"--cpu={cpu}:{cpu}"]
            if "pids" not in self.cgroups.roots and info.host_uid is not None:
                # RLIMIT_NPROC counts per host uid, so it is a per-VM limit only with per-VM uids
                limits.append(f"--nproc={info.pids_max}:{info.pids_max}")
            if "memory" not in self.cgroups.roots:
                address_space = info.memory_mb * 1024 * 1024
                limits.append(f"--as={address_space}:{address_space}")
            limits.append("--")
        if vm.prefix is None:
            vm.prefix = self._bwrap_args(vm, bwrap)
        return [*limits, *vm.prefix]

    def _bwrap_args(self, vm: _Vm, bwrap: str) -> list[str]:
        info = vm.info
        args = [
            bwrap,
            "--unshare-all",
            "--unshare-user",
            "--disable-userns",  # no nested user namespaces: less kernel surface from inside
            "--die-with-parent",
            "--new-session",  # no TIOCSTI into the service's terminal
            "--cap-drop",
            "ALL",
            "--uid",
            str(SANDBOX_UID),
            "--gid",
            str(SANDBOX_UID),
            "--hostname",
            info.hostname,
            "--ro-bind",
            "/usr",
            "/usr",
        ]
        if info.network:
            args.append("--share-net")
        for name in SYSTEM_DIRS:
            path = Path(name)
            if path.is_symlink():
                args += ["--symlink", os.readlink(path), name]
            elif path.is_dir():
                args += ["--ro-bind", name, name]
        args += ["--proc", "/proc", "--dev", "/dev", "--ro-bind", str(self._shared_etc), "/etc"]
        if info.network:
            args += ["--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf"]
        etc = vm.directory / "etc"
        for name in ("passwd", "group", "hostname", "hosts"):
            args += ["--ro-bind", str(etc / name), f"/etc/{name}"]
        layer = vm.layer
        args += [
            "--bind",
            str(layer / "home"),
            "/home",
            "--bind",
            str(layer / "work"),
            "/work",
            "--bind",
            str(layer / "tmp"),
            "/tmp",  # noqa: S108 - the VM's own /tmp, inside its sandbox
            "--dir",
            "/var",
            "--symlink",
            "../tmp",
            "/var/tmp",  # noqa: S108 - inside the sandbox
        ]
        path_dirs: list[str] = []
        for tool in vm.tools:
            if tool.source == "mounted" and tool.host_path and tool.mount_path:
                args += ["--ro-bind", tool.host_path, tool.mount_path]
                path_dirs += tool.path_dirs
        args += [
            "--remount-ro",
            "/",  # the root tmpfs bwrap builds: nothing outside the layer is writable
            "--clearenv",
            "--setenv",
            "PATH",
            ":".join([*path_dirs, BASE_PATH]),
            "--setenv",
            "HOME",
            SANDBOX_HOME,
            "--setenv",
            "USER",
            SANDBOX_USER,
            "--setenv",
            "LOGNAME",
            SANDBOX_USER,
            "--setenv",
            "LANG",
            "C.UTF-8",
            "--setenv",
            "HOSTNAME",
            info.hostname,
        ]
        return args

    def exec_stream(
        self,
        vm_id: str,
        command: str,
        args: list[str],
        *,
        timeout_s: float | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        stdin: bytes | None = None,
    ) -> AsyncIterator[ExecEvent]:
        # validate now, so a bad request raises at the call rather than at the first iteration
        try:
            request = ExecRequest(
                command=command, args=args, env=env or {}, cwd=cwd, stdin=stdin, timeout_s=timeout_s
            )
        except ValidationError as exc:
            raise InvalidExec(f"Invalid command: {exc.errors()[0]['msg']}") from exc
        vm = self._get(vm_id)
        if vm.info.status != VmStatus.RUNNING:
            raise VmNotRunning(vm_id, vm.info.status.value)
        return self._run(vm, request)

    async def _run(self, vm: _Vm, request: ExecRequest) -> AsyncIterator[ExecEvent]:
        bwrap = self._require_available()
        timeout = min(request.timeout_s or self.settings.default_timeout_s, self.settings.max_timeout_s)
        argv = self._prefix(vm, bwrap, timeout)
        for key, value in request.env.items():
            argv += ["--setenv", key, value]
        argv += ["--chdir", request.cwd or "/work"]
        uid = vm.info.host_uid
        cgroup = vm.cgroup
        execution = Execution(
            argv,
            [request.command, *request.args],
            user=uid,
            group=uid,
            stdin=request.stdin,
            timeout_s=timeout,
            output_cap=self.settings.output_cap_bytes,
            on_init=cgroup.add if cgroup is not None else None,
            oom_counter=cgroup.oom_kills if cgroup is not None else None,
        )
        vm.executions.add(execution)
        try:
            async for event in execution.events():
                yield event
        finally:
            vm.executions.discard(execution)

    async def exec(
        self,
        vm_id: str,
        command: str,
        args: list[str],
        *,
        timeout_s: float | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        stdin: bytes | None = None,
    ) -> ExecResult:
        stream = self.exec_stream(vm_id, command, args, timeout_s=timeout_s, env=env, cwd=cwd, stdin=stdin)
        result: ExecResult | None = None
        async for event in stream:  # drained to the end so the generator closes itself
            if isinstance(event, ExecResult):
                result = event
        if result is None:  # pragma: no cover - Execution always ends with a result
            raise SandboxUnavailable("the sandbox ended without a result")
        return result
