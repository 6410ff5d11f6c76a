"""Quality: ruff findings, radon complexity and maintainability, the code smells, and the 0-10 score.

quality_score = max(0, 10 - 10 * penalty_points / statements), rounded to 2 decimals, where statements are
the project's Python statements (ast) and penalty points are (the weights of pylint's evaluation formula,
with findings from ruff and radon):
  ruff finding                                  1    (E9, F63, F7, F82 — real errors — 5)
  file that does not parse                      5
  function of complexity rank C / D / E / F     2 / 3 / 4 / 5
  file of maintainability rank B / C            2 / 5
  long function, too many parameters            1 each
"""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, ConfigDict, TypeAdapter

from pentad.engines.analysis.models import (
    CodeSmell,
    FileMaintainability,
    FunctionComplexity,
    LintFinding,
    QualityReport,
    ScoreBreakdown,
)
from pentad.engines.analysis.project import ParsedFile
from pentad.engines.analysis.runner import CommandRunner
from pentad.engines.analysis.settings import AnalysisSettings
from pentad.engines.analysis.tools import normalise_path, parse_json, run_tool

ERROR_RULE_PREFIXES = ("E9", "F63", "F7", "F82")
# ruff findings that are reported as code smells (the rest only count towards the score)
SMELL_RULE_PREFIXES = ("B", "C4", "E7", "F4", "F8", "PIE")
COMPLEXITY_POINTS = {"C": 2.0, "D": 3.0, "E": 4.0, "F": 5.0}
MAINTAINABILITY_POINTS = {"B": 2.0, "C": 5.0}
SYNTAX_ERROR_POINTS = 5.0
SMALL_SMELL_POINTS = 1.0
WORST_FUNCTIONS = 10


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _RuffLocation(_Loose):
    row: int
    column: int


class _RuffItem(_Loose):
    code: str | None = None
    message: str
    filename: str
    location: _RuffLocation


class _RadonBlock(_Loose):
    type: str
    name: str
    lineno: int
    endline: int | None = None
    complexity: int
    rank: str
    classname: str | None = None
    closures: list[_RadonBlock] = []


class _RadonError(_Loose):
    error: str


class _RadonMi(_Loose):
    mi: float
    rank: str


_RUFF = TypeAdapter(list[_RuffItem])
_RADON_CC = TypeAdapter(dict[str, list[_RadonBlock] | _RadonError])
_RADON_MI = TypeAdapter(dict[str, _RadonMi | _RadonError])


def _is_syntax_diagnostic(code: str | None) -> bool:
    # ruff reports parse errors with no rule code (or "invalid-syntax", "E999" in some versions); the ast
    # pass reports those files once, as syntax_error smells
    return code is None or code == "E999" or not code[:1].isalpha() or not code[-1:].isdigit()


async def run_ruff(
    runner: CommandRunner, workspace: str, files: list[str], settings: AnalysisSettings
) -> list[LintFinding]:
    args = [
        "ruff",
        "check",
        "--isolated",  # the project's own ruff config would make scores incomparable
        "--no-cache",
        "--no-fix",
        "--exit-zero",
        "--output-format",
        "json",
        "--select",
        ",".join(settings.ruff_select),
        "--",
        *files,
    ]
    result = await run_tool(
        runner, "ruff", args, cwd=workspace, timeout_s=settings.ruff_timeout_s, ok_codes=(0,)
    )
    findings = [
        LintFinding(
            file=normalise_path(item.filename, workspace),
            line=item.location.row,
            column=item.location.column,
            code=item.code or "",
            message=item.message,
        )
        for item in parse_json("ruff", _RUFF, result.stdout or "[]")
        if not _is_syntax_diagnostic(item.code)
    ]
    return sorted(findings, key=lambda f: (f.file, f.line, f.column, f.code))


def _flatten(block: _RadonBlock, file: str, prefix: str) -> list[FunctionComplexity]:
    name = f"{prefix}{block.name}"
    found = [
        FunctionComplexity(
            name=name,
            file=file,
            line=block.lineno,
            end_line=block.endline or block.lineno,
            complexity=block.complexity,
            rank=block.rank,
        )
    ]
    for closure in block.closures:
        found.extend(_flatten(closure, file, f"{name}."))
    return found


async def run_radon(
    runner: CommandRunner, workspace: str, files: list[str], settings: AnalysisSettings
) -> tuple[list[FunctionComplexity], dict[str, FileMaintainability]]:
    cc = await run_tool(
        runner,
        "radon",
        ["radon", "cc", "--json", "--", *files],
        cwd=workspace,
        timeout_s=settings.radon_timeout_s,
    )
    mi = await run_tool(
        runner,
        "radon",
        ["radon", "mi", "--json", "--", *files],
        cwd=workspace,
        timeout_s=settings.radon_timeout_s,
    )
    functions: list[FunctionComplexity] = []
    for path, blocks in parse_json("radon", _RADON_CC, cc.stdout or "{}").items():
        if isinstance(blocks, _RadonError):
            continue  # unparsable file: reported by the ast pass
        file = normalise_path(path, workspace)
        for block in blocks:
            # methods appear both inside their class block and on their own; classes are skipped
            if block.type in ("function", "method"):
                prefix = f"{block.classname}." if block.type == "method" and block.classname else ""
                functions.extend(_flatten(block, file, prefix))
    maintainability = {
        normalise_path(path, workspace): FileMaintainability(mi=round(item.mi, 2), rank=item.rank)
        for path, item in parse_json("radon", _RADON_MI, mi.stdout or "{}").items()
        if isinstance(item, _RadonMi)
    }
    functions.sort(key=lambda f: (f.file, f.line, f.name))
    return functions, dict(sorted(maintainability.items()))


def find_smells(
    parsed: dict[str, ParsedFile],
    lint: list[LintFinding],
    functions: list[FunctionComplexity],
    maintainability: dict[str, FileMaintainability],
    settings: AnalysisSettings,
) -> list[CodeSmell]:
    smells: list[CodeSmell] = []
    for file in parsed.values():
        if file.syntax_error is not None:
            line, message = file.syntax_error
            smells.append(CodeSmell(type="syntax_error", file=file.rel, line=line, message=message))
        for function in file.functions:
            length = function.end_line - function.line + 1
            if length > settings.long_function_lines:
                smells.append(
                    CodeSmell(
                        type="long_function",
                        file=file.rel,
                        line=function.line,
                        message=f"{function.name} is {length} lines long "
                        f"(limit {settings.long_function_lines})",
                    )
                )
            if function.parameters > settings.max_parameters:
                smells.append(
                    CodeSmell(
                        type="too_many_parameters",
                        file=file.rel,
                        line=function.line,
                        message=f"{function.name} takes {function.parameters} parameters "
                        f"(limit {settings.max_parameters})",
                    )
                )
    for fn in functions:
        if fn.rank in COMPLEXITY_POINTS:
            smells.append(
                CodeSmell(
                    type="high_complexity",
                    file=fn.file,
                    line=fn.line,
                    message=f"{fn.name} has cyclomatic complexity {fn.complexity} (rank {fn.rank})",
                )
            )
    for path, item in maintainability.items():
        if item.rank in MAINTAINABILITY_POINTS:
            smells.append(
                CodeSmell(
                    type="low_maintainability",
                    file=path,
                    line=1,
                    message=f"maintainability index {item.mi:.1f} (rank {item.rank})",
                )
            )
    for finding in lint:
        if finding.code.startswith(SMELL_RULE_PREFIXES):
            smells.append(
                CodeSmell(
                    type="lint",
                    file=finding.file,
                    line=finding.line,
                    message=f"{finding.code} {finding.message}",
                )
            )
    return sorted(smells, key=lambda s: (s.file, s.line, s.type, s.message))


def score(
    parsed: dict[str, ParsedFile],
    lint: list[LintFinding],
    functions: list[FunctionComplexity],
    maintainability: dict[str, FileMaintainability],
    smells: list[CodeSmell],
) -> tuple[float, ScoreBreakdown]:
    statements = sum(file.statements for file in parsed.values())
    points: dict[str, float] = {
        "lint": float(sum(5 if f.code.startswith(ERROR_RULE_PREFIXES) else 1 for f in lint)),
        "syntax_errors": SYNTAX_ERROR_POINTS * sum(f.syntax_error is not None for f in parsed.values()),
        "complexity": sum(COMPLEXITY_POINTS.get(fn.rank, 0.0) for fn in functions),
        "maintainability": sum(MAINTAINABILITY_POINTS.get(m.rank, 0.0) for m in maintainability.values()),
        "long_functions": SMALL_SMELL_POINTS * sum(s.type == "long_function" for s in smells),
        "too_many_parameters": SMALL_SMELL_POINTS * sum(s.type == "too_many_parameters" for s in smells),
    }
    total = sum(points.values())
    value = max(0.0, 10.0 - 10.0 * total / max(statements, 1))
    return round(value, 2), ScoreBreakdown(
        statements=statements, penalty_points=total, points_by_source=points
    )


def build_report(
    lint: list[LintFinding],
    functions: list[FunctionComplexity],
    maintainability: dict[str, FileMaintainability],
    breakdown: ScoreBreakdown,
) -> QualityReport:
    by_rule: Counter[str] = Counter(f.code for f in lint)
    average = round(sum(fn.complexity for fn in functions) / len(functions), 2) if functions else None
    worst = sorted(functions, key=lambda fn: (-fn.complexity, fn.file, fn.line))[:WORST_FUNCTIONS]
    return QualityReport(
        lint_findings=len(lint),
        lint_by_rule=dict(sorted(by_rule.items(), key=lambda item: (-item[1], item[0]))),
        lint=lint,
        average_complexity=average,
        worst_functions=worst,
        maintainability=maintainability,
        score=breakdown,
    )
