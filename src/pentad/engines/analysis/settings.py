"""Limits and thresholds of the analysis engine; plain pydantic so `pentad.config` can embed it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# pycodestyle errors (E4, E7, E9), pyflakes (F), warnings (W), bugbear (B), comprehensions (C4) and
# flake8-pie: findings that are bugs or smells in any project, not one team's style choices.
DEFAULT_RUFF_SELECT = ("E4", "E7", "E9", "F", "W", "B", "C4", "PIE")


class AnalysisSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # guards: the project is refused (ProjectTooLarge) past these
    max_python_files: int = Field(default=5000, ge=1)
    max_total_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    max_data_file_bytes: int = Field(default=1024 * 1024, ge=0)  # larger non-Python files are not copied

    # per-tool wall-clock limits, seconds
    ruff_timeout_s: float = Field(default=120, gt=0)
    radon_timeout_s: float = Field(default=180, gt=0)
    bandit_timeout_s: float = Field(default=300, gt=0)
    mypy_timeout_s: float = Field(default=600, gt=0)
    coverage_timeout_s: float = Field(default=900, gt=0)
    output_cap_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    max_parallel_tools: int = Field(default=2, ge=1, le=16)

    # what counts as a smell
    ruff_select: tuple[str, ...] = DEFAULT_RUFF_SELECT
    long_function_lines: int = Field(default=50, ge=5)
    max_parameters: int = Field(default=6, ge=1)
    coverage_target: float = Field(default=80.0, ge=0, le=100)
    max_recommendations: int = Field(default=20, ge=1)
