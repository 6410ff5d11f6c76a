"""Analysis failures. Bad requests are `ValueError`s so a surface can map them to 400/422 without importing
the engine's internals; a tool that fails is not raised but recorded in the result's `tool_failures`."""

from __future__ import annotations


class AnalysisError(Exception):
    """Base of everything the analysis engine raises."""


class InvalidAnalysisRequest(AnalysisError, ValueError):
    """The caller asked for something the engine refuses: unknown type, bad directory, too large."""


class UnknownAnalysisType(InvalidAnalysisRequest):
    def __init__(self, unknown: set[str], allowed: frozenset[str]) -> None:
        self.unknown = sorted(unknown)
        self.allowed = sorted(allowed)
        super().__init__(
            f"unknown analysis type(s) {', '.join(map(repr, self.unknown))}; "
            f"allowed: {', '.join(self.allowed)}"
        )


class InvalidProject(InvalidAnalysisRequest):
    """The project directory is missing, not a directory, escapes by symlink, or has no Python files."""


class ProjectTooLarge(InvalidProject):
    """The project exceeds the configured file-count or byte caps."""


class WorkspaceFailed(AnalysisError):
    """The runner could not materialise the project where the tools run (e.g. the VM refused the copy)."""


class ToolFailed(AnalysisError):
    """One tool crashed, timed out or printed something unparseable (caught and recorded by `analyze`)."""

    def __init__(self, tool: str, message: str) -> None:
        self.tool = tool
        super().__init__(f"{tool}: {message}")
        self.message = message
