"""Remembering that KVM does not boot guests on this host, so a restarted Pentad does not spend
`kvm_boot_timeout_s` on the first VM finding out again.

The verdict is tied to what decides it (the host kernel, the QEMU binary, the guest kernel) and expires
after a day, so an upgraded or repaired host is tried again.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

VERDICT_TTL = timedelta(hours=24)


def _mtime(path: str | Path | None) -> int:
    if path is None:
        return 0
    try:
        return int(Path(path).stat().st_mtime)
    except OSError:
        return 0


def host_fingerprint(qemu_binary: str, guest_kernel: Path | None) -> str:
    qemu = shutil.which(qemu_binary)
    parts = [os.uname().release, qemu or qemu_binary, str(_mtime(qemu))]
    return "|".join([*parts, str(guest_kernel), str(_mtime(guest_kernel))])


def kvm_known_broken(path: Path, fingerprint: str, now: datetime) -> bool:
    try:
        record = json.loads(path.read_text())
        failed_at = datetime.fromisoformat(record["failed_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return record.get("fingerprint") == fingerprint and timedelta(0) <= now - failed_at < VERDICT_TTL


def remember_kvm_broken(path: Path, fingerprint: str, now: datetime) -> None:
    staging = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(OSError):  # only an optimisation: never fail a boot over it
        staging.write_text(json.dumps({"fingerprint": fingerprint, "failed_at": now.isoformat()}))
        staging.replace(path)
