"""The project as the engine sees it: a guarded, capped list of files, and their parsed Python sources.

Nothing here follows a symlink inside the project; a project directory that is itself a symlink may only
point within its own parent (or within `allowed_root` when the caller gives one).
"""

from __future__ import annotations

import ast
import fnmatch
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pentad.engines.analysis.errors import InvalidProject, ProjectTooLarge
from pentad.engines.analysis.settings import AnalysisSettings

# directories that hold tools' state or third-party code, never the project's own sources
EXCLUDED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        ".eggs",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".benchmarks",
        "site-packages",
        "build",
        "dist",
        ".pentad-analysis",  # the engine's own scratch directory inside a workspace
    }
)
TEST_FILE_PATTERNS = ("test_*.py", "*_test.py")
TEST_DIR_NAMES = frozenset({"tests", "test"})
SCRATCH_DIR = ".pentad-analysis"


def is_test_file(rel: str) -> bool:
    name = PurePosixPath(rel).name
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in TEST_FILE_PATTERNS)


def is_test_support(rel: str) -> bool:
    """Test files, conftest.py and anything under a tests/ directory: omitted from coverage."""
    path = PurePosixPath(rel)
    return is_test_file(rel) or path.name == "conftest.py" or bool(TEST_DIR_NAMES & set(path.parts[:-1]))


@dataclass(frozen=True, slots=True)
class ProjectSnapshot:
    root: Path  # resolved
    files: tuple[str, ...]  # everything to copy into a workspace, relative POSIX paths
    python_files: tuple[str, ...]
    total_bytes: int
    skipped: tuple[str, ...] = ()

    @property
    def test_files(self) -> tuple[str, ...]:
        return tuple(rel for rel in self.python_files if is_test_file(rel))

    @property
    def has_tests(self) -> bool:
        return any(is_test_file(rel) for rel in self.python_files)


@dataclass(slots=True)
class ParsedFile:
    rel: str
    source: str
    tree: ast.Module | None
    syntax_error: tuple[int, str] | None = None  # (line, message)
    lines: int = 0
    statements: int = 0
    functions: list[FunctionInfo] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class FunctionInfo:
    name: str  # qualified within the module: "Class.method", "outer.inner"
    line: int
    end_line: int
    parameters: int  # without self/cls
    body_lines: tuple[int, ...]  # first line of each statement of the body, docstring excluded
    is_stub: bool  # body is only `...`, `pass` or `raise NotImplementedError`
    parent: str | None  # qualified name of the enclosing function, if any


def _resolve_project(project_dir: str | os.PathLike[str], allowed_root: Path | None) -> Path:
    path = Path(project_dir)
    if not path.is_absolute():
        path = Path.cwd() / path
    if not os.path.lexists(path):
        raise InvalidProject(f"project directory {str(project_dir)!r} does not exist")
    resolved = path.resolve()
    if path.is_symlink() and not resolved.is_relative_to(path.parent.resolve()):
        raise InvalidProject(f"project directory {str(project_dir)!r} is a symlink to {resolved}, outside it")
    if allowed_root is not None and not resolved.is_relative_to(allowed_root.resolve()):
        raise InvalidProject(f"project directory {str(project_dir)!r} is outside {allowed_root}")
    if not resolved.is_dir():
        raise InvalidProject(f"project path {str(project_dir)!r} is not a directory")
    return resolved


def scan_project(
    project_dir: str | os.PathLike[str], settings: AnalysisSettings, *, allowed_root: Path | None = None
) -> ProjectSnapshot:
    root = _resolve_project(project_dir, allowed_root)
    files: list[str] = []
    python_files: list[str] = []
    skipped: list[str] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        kept_dirs = []
        for name in sorted(dirnames):
            if name in EXCLUDED_DIRS or name.endswith(".egg-info"):
                continue
            if (base / name).is_symlink():
                skipped.append((base / name).relative_to(root).as_posix())
                continue
            kept_dirs.append(name)
        dirnames[:] = kept_dirs
        for name in sorted(filenames):
            full = base / name
            rel = full.relative_to(root).as_posix()
            info = full.lstat()
            if not stat.S_ISREG(info.st_mode):  # symlinks, fifos, sockets
                skipped.append(rel)
                continue
            is_python = name.endswith((".py", ".pyi"))
            if not is_python and info.st_size > settings.max_data_file_bytes:
                skipped.append(rel)
                continue
            total += info.st_size
            if total > settings.max_total_bytes:
                raise ProjectTooLarge(f"project is larger than {settings.max_total_bytes} bytes")
            files.append(rel)
            if name.endswith(".py"):
                python_files.append(rel)
                if len(python_files) > settings.max_python_files:
                    raise ProjectTooLarge(f"project has more than {settings.max_python_files} Python files")
    if not python_files:
        raise InvalidProject(f"project directory {str(project_dir)!r} has no Python files")
    return ProjectSnapshot(root, tuple(files), tuple(python_files), total, tuple(skipped))


def _is_stub(body: list[ast.stmt]) -> bool:
    for stmt in body:
        if isinstance(stmt, ast.Pass) or (
            isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
        ):
            continue  # `pass`, `...`, docstrings
        if isinstance(stmt, ast.Raise) and stmt.exc is not None:
            target = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
            if isinstance(target, ast.Name) and target.id == "NotImplementedError":
                continue
        return False
    return True


def _functions(tree: ast.Module) -> list[FunctionInfo]:
    found: list[FunctionInfo] = []

    def visit(node: ast.AST, prefix: str, parent_function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                args = child.args
                params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
                count = len(params) + (args.vararg is not None) + (args.kwarg is not None)
                if params and params[0].arg in ("self", "cls"):
                    count -= 1
                body = child.body
                if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                    body = body[1:]  # the docstring runs at definition time, not at call time
                found.append(
                    FunctionInfo(
                        name=name,
                        line=child.lineno,
                        end_line=child.end_lineno or child.lineno,
                        parameters=count,
                        body_lines=tuple(stmt.lineno for stmt in body),
                        is_stub=_is_stub(child.body),
                        parent=parent_function,
                    )
                )
                visit(child, f"{name}.", name)
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.", parent_function)
            else:
                visit(child, prefix, parent_function)

    visit(tree, "", None)
    return found


def parse_file(root: Path, rel: str) -> ParsedFile:
    source = (root / rel).read_bytes().decode("utf-8", errors="replace")
    lines = source.count("\n") + (0 if source.endswith("\n") or not source else 1)
    try:
        tree = ast.parse(source, filename=rel)
    except SyntaxError as exc:
        return ParsedFile(rel, source, None, (exc.lineno or 1, exc.msg), lines)
    except (ValueError, RecursionError) as exc:  # NUL bytes, absurd nesting
        return ParsedFile(rel, source, None, (1, str(exc) or type(exc).__name__), lines)
    statements = sum(isinstance(node, ast.stmt) for node in ast.walk(tree))
    return ParsedFile(rel, source, tree, None, lines, statements, _functions(tree))


def parse_project(snapshot: ProjectSnapshot) -> dict[str, ParsedFile]:
    return {rel: parse_file(snapshot.root, rel) for rel in snapshot.python_files}
