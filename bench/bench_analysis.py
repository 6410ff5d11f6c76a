"""Analysis engine: wall time of a full analysis (quality, security, types, with the tests under coverage)
of a generated ~10k-line Python project, and each tool's share.

The project is synthetic but shaped like real code: modules of small functions with branches, a few
complex ones, some SQL built by formatting (bandit), some wrong return types (mypy), and tests that call
about half the functions. Tools run at most `--parallel` at a time (the engine's default is 2).

    .venv/bin/python bench/bench_analysis.py [--lines 10000] [--parallel 2]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path

from pentad.engines.analysis import AnalysisSettings, analyze

FUNCTION = '''

def {name}(value: int, flag: bool = False) -> int:
    """Step {index}."""
    total = value
    if flag:
        total += {index}
    elif value > {index}:
        total -= 1
    for step in range(3):
        total += step
    return total
'''
COMPLEX = """

def {name}(a: int, b: int, c: int, mode: str) -> int:
    result = 0
    if a > 1 and b > 1:
        result += 1
    elif a > 2 or c > 2:
        result += 2
    if mode == "x":
        result *= 2
    elif mode == "y":
        result *= 3
    elif mode == "z":
        result *= 4
    for item in range(a):
        if item % 2 and b:
            result += item
        elif item % 3:
            result -= item
    while c > 0 and result < 100:
        c -= 1
        result += 1
    return result if result > 0 else -result
"""
SQL = """

def lookup_{index}(conn, name: str) -> list:
    return list(conn.execute("SELECT * FROM items WHERE name = '%s'" % name))
"""
WRONG_TYPE = """

def label_{index}(value: int) -> int:
    return str(value)
"""


def generate(root: Path, target_lines: int) -> tuple[int, int]:
    package = root / "synth"
    tests = root / "tests"
    package.mkdir(parents=True)
    tests.mkdir()
    (package / "__init__.py").write_text("")
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n')
    lines = modules = 0
    while lines < target_lines:
        parts = ['"""Generated module."""\n']
        names = []
        for index in range(16):
            name = f"step_{modules}_{index}"
            names.append(name)
            parts.append(FUNCTION.format(name=name, index=index))
        parts.append(COMPLEX.format(name=f"tangle_{modules}"))
        if modules % 4 == 0:
            parts.append(SQL.format(index=modules))
        if modules % 5 == 0:
            parts.append(WRONG_TYPE.format(index=modules))
        source = "".join(parts)
        (package / f"mod_{modules}.py").write_text(source)
        tested = names[::2]
        test_source = f"from synth.mod_{modules} import {', '.join(tested)}\n" + "".join(
            f"\n\ndef test_{name}() -> None:\n    assert {name}(1, flag=True) > 0\n" for name in tested
        )
        (tests / f"test_mod_{modules}.py").write_text(test_source)
        lines += source.count("\n") + test_source.count("\n")
        modules += 1
    return modules * 2 + 1, lines


async def main(target_lines: int, parallel: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="pentad-bench-analysis-"))
    try:
        files, lines = generate(root, target_lines)
        print(f"project: {files} Python files, {lines} lines")
        started = time.perf_counter()
        result = await analyze(
            root,
            {"quality", "security", "types"},
            settings=AnalysisSettings(max_parallel_tools=parallel),
        )
        wall = time.perf_counter() - started
        print(f"full analysis (all types, {parallel} tools at a time): {wall:.2f} s wall")
        for tool, ms in sorted(result.timings_ms.items(), key=lambda item: -item[1]):
            print(f"  {tool:<10} {ms / 1000:7.2f} s")
        print(
            f"findings: quality_score {result.quality_score}, {len(result.code_smells)} smells, "
            f"{len(result.security_issues)} security issues, {result.type_errors} type errors, "
            f"coverage {result.coverage_percent}%, {len(result.untested_functions)} untested functions"
        )
        if result.tool_failures:
            print(f"tool failures: {[f.model_dump() for f in result.tool_failures]}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--parallel", type=int, default=2)
    options = parser.parse_args()
    asyncio.run(main(options.lines, options.parallel))
