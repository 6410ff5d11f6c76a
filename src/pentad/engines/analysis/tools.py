"""Running one tool through a runner and checking its output's shape: failures become `ToolFailed`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

from pydantic import TypeAdapter, ValidationError

from pentad.engines.analysis.errors import ToolFailed
from pentad.engines.analysis.runner import CommandResult, CommandRunner

T = TypeVar("T")


def tail(text: str, limit: int = 2000) -> str:
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


async def run_tool(
    runner: CommandRunner,
    tool: str,
    args: Sequence[str],
    *,
    cwd: str,
    timeout_s: float,
    ok_codes: Sequence[int] = (0, 1),
    env: Mapping[str, str] | None = None,
) -> CommandResult:
    """`python -m <args>` in the workspace; a timeout or an unexpected exit code fails the tool."""
    result = await runner.run(runner.python, ["-m", *args], cwd=cwd, timeout_s=timeout_s, env=env)
    if result.timed_out:
        raise ToolFailed(tool, f"timed out after {timeout_s:g} s")
    if result.exit_code not in ok_codes:
        output = tail(result.stderr) or tail(result.stdout) or "no output"
        raise ToolFailed(tool, f"exited with {result.exit_code}: {output}")
    return result


def parse_json(tool: str, adapter: TypeAdapter[T], text: str) -> T:
    try:
        return adapter.validate_json(text)
    except ValidationError as exc:
        raise ToolFailed(
            tool, f"unexpected output ({exc.error_count()} problems): {tail(text, 500)}"
        ) from exc


def normalise_path(path: str, workspace: str) -> str:
    """Tools print './a.py', '/tmp/ws/a.py' or 'a.py': always return 'a.py'."""
    prefix = workspace.rstrip("/") + "/"
    if path.startswith(prefix):
        path = path[len(prefix) :]
    while path.startswith("./"):
        path = path[2:]
    return path
