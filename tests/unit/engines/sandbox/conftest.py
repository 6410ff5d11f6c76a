"""A real NamespaceDriver over a fresh base directory; every VM made through it is destroyed afterwards."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from pentad.engines.sandbox.namespace import NamespaceDriver
from pentad.engines.sandbox.settings import SandboxSettings

if shutil.which("bwrap") is None:
    pytest.skip("bubblewrap is not installed (apt-get install bubblewrap)", allow_module_level=True)


@pytest.fixture
def base_dir() -> Iterator[Path]:
    # pytest's tmp_path sits under a 0700 directory, which per-VM uids cannot traverse: use /tmp directly
    directory = Path(tempfile.mkdtemp(prefix="pentad-vms-", dir="/tmp"))
    directory.chmod(0o711)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
async def driver(base_dir: Path) -> AsyncIterator[NamespaceDriver]:
    sandbox = NamespaceDriver(SandboxSettings(default_timeout_s=20, output_cap_bytes=64 * 1024), base_dir)
    yield sandbox
    for vm in await sandbox.list_vms():
        await sandbox.destroy(vm.id)
