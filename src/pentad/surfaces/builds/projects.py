"""Projects: named directories a user's builds write into and analyses read.

A project is `<projects_dir>/<user id>/<project_name>`, so two users' projects of the same name never
meet. It is filled by builds, by cloning `parameters.repository_url` (git over http(s), public hosts
unless allow-listed, see docs/security.md), or by an operator placing files there.

Names are checked against injection before anything touches the disk: letters, digits, `.`, `_`, `-`,
1 to 64 characters, starting with a letter or digit (so never `.`, `..` or a hidden name), which also
excludes every path separator and shell metacharacter.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import Final

from pentad.core.context import CoreServices
from pentad.core.errors import BadRequest, NotFound, ValidationFailed
from pentad.core.webhooks.urls import check_outbound_url

PROJECT_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_project_name(name: str) -> str:
    if not PROJECT_NAME.fullmatch(name) or ".." in name:
        raise BadRequest(
            "project_name must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            details={"field": "project_name"},
        )
    return name


def projects_root(core: CoreServices) -> Path:
    configured = core.settings.builds.projects_dir
    return (configured or core.settings.server.data_dir / "projects").resolve()


def project_dir(core: CoreServices, owner_id: uuid.UUID, name: str) -> Path:
    root = projects_root(core)
    path = (root / owner_id.hex / check_project_name(name)).resolve()
    if root not in path.parents:  # belt and braces: the name check already rules this out
        raise BadRequest("project_name leaves the projects directory", details={"field": "project_name"})
    return path


def existing_project(core: CoreServices, owner_id: uuid.UUID, name: str) -> Path:
    path = project_dir(core, owner_id, name)
    if not path.is_dir():
        raise NotFound("project", name, f"Project '{name}' not found")
    return path


def check_repository_url(core: CoreServices, url: object) -> str:
    if not isinstance(url, str):
        raise ValidationFailed(
            "parameters.repository_url must be a string",
            fields=[{"field": "parameters.repository_url", "error": "not a string"}],
        )
    return check_outbound_url(url, core.settings.webhooks.allowed_hosts, field="parameters.repository_url")


async def clone(url: str, target: Path, timeout_s: float) -> None:
    """A shallow clone into an empty `target`; raises RuntimeError with git's message on failure."""
    target.parent.mkdir(parents=True, exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        "git",
        "-c",
        "protocol.allow=never",  # no file://, ext::, ssh: only what the URL check admitted
        "-c",
        "protocol.https.allow=always",
        "-c",
        "protocol.http.allow=always",
        "clone",
        "--depth",
        "1",
        "--",
        url,
        str(target),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin"},
    )
    try:
        _out, err = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise RuntimeError(f"git clone timed out after {timeout_s:g} s") from None
    if process.returncode != 0:
        raise RuntimeError(f"git clone failed: {err.decode('utf-8', 'replace').strip()[-500:]}")
