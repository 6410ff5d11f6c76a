"""Types: mypy over the project, isolated from any configuration around it.

mypy gets an empty `[mypy]` config written into the workspace (so neither the project's nor a parent's
pyproject applies), no cache (`--cache-dir=/dev/null`, `--no-incremental`), `--ignore-missing-imports`,
and `--explicit-package-bases` so files named alike in different directories (conftest.py) do not clash.
Files that do not parse are left out: mypy stops at the first syntax error.
"""

from __future__ import annotations

import json
import re

from pentad.engines.analysis.errors import ToolFailed
from pentad.engines.analysis.models import TypeErrorDetail
from pentad.engines.analysis.project import SCRATCH_DIR
from pentad.engines.analysis.runner import CommandRunner
from pentad.engines.analysis.settings import AnalysisSettings
from pentad.engines.analysis.tools import normalise_path, run_tool, tail

MYPY_CONFIG = f"{SCRATCH_DIR}/mypy.ini"
MYPY_CONFIG_TEXT = b"[mypy]\n"
# the text format, for a mypy without `-O json`: "path:line:col: error: message  [code]"
_TEXT_LINE = re.compile(
    r"^(?P<file>[^:\n]+):(?P<line>\d+):(?:(?P<column>\d+):)? (?P<severity>error|note|warning): "
    r"(?P<message>.*?)(?:  \[(?P<code>[a-z0-9-]+)\])?$"
)


def parse_mypy_output(stdout: str, workspace: str) -> list[TypeErrorDetail]:
    errors = []
    for line in stdout.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            item = json.loads(line)
            if item.get("severity") != "error":
                continue
            errors.append(
                TypeErrorDetail(
                    file=normalise_path(str(item["file"]), workspace),
                    line=int(item["line"]),
                    column=int(item["column"]) + 1 if item.get("column") is not None else None,
                    message=str(item["message"]),
                    code=item.get("code"),
                )
            )
            continue
        match = _TEXT_LINE.match(line)
        if match and match["severity"] == "error":
            errors.append(
                TypeErrorDetail(
                    file=normalise_path(match["file"], workspace),
                    line=int(match["line"]),
                    column=int(match["column"]) if match["column"] else None,
                    message=match["message"],
                    code=match["code"],
                )
            )
    return sorted(errors, key=lambda e: (e.file, e.line, e.column or 0, e.message))


async def run_mypy(
    runner: CommandRunner, workspace: str, files: list[str], settings: AnalysisSettings, *, src_layout: bool
) -> list[TypeErrorDetail]:
    args = [
        "mypy",
        "--config-file",
        MYPY_CONFIG,
        "--no-incremental",
        "--cache-dir",
        "/dev/null",  # mypy's documented way to write no cache
        "--ignore-missing-imports",
        "--explicit-package-bases",
        "--no-error-summary",
        "--no-pretty",
        "--no-color-output",
        "--show-error-codes",
        "--output",
        "json",
        "--",
        *files,
    ]
    env = {"MYPYPATH": "src"} if src_layout else {}
    result = await run_tool(
        runner, "mypy", args, cwd=workspace, timeout_s=settings.mypy_timeout_s, ok_codes=(0, 1, 2), env=env
    )
    try:
        errors = parse_mypy_output(result.stdout, workspace)
    except (ValueError, KeyError, TypeError) as exc:
        raise ToolFailed("mypy", f"unexpected output: {tail(result.stdout, 500)}") from exc
    if result.exit_code == 2 and not errors:  # a blocking error that is not a type error: bad invocation
        raise ToolFailed("mypy", f"exited with 2: {tail(result.stderr) or tail(result.stdout)}")
    return errors
