"""The code-writing step of a build, behind `CodeWriter`, so a larger model can do it.

`LLMCodeWriter` asks the configured model (`builds.model`: the bundled one by default, or any
OpenAI-compatible server in `llm.models`) first for a plan, the list of files, then for each file's
content. What a model says is checked, never trusted: a planned path must be a relative file name of a
known kind inside the project; a Python file is kept only as far as it parses (the longest prefix of whole
lines that does), and what was cut or could not be parsed at all is reported, not hidden. When the model
gives no usable plan, the build falls back to one module named from the goal plus its test, and says so
(`plan_source: "fallback"`).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

from pentad.config import BuildsSettings
from pentad.engines.llm.generation import ChatMessage, GenerationParams
from pentad.engines.llm.service import LLMService

PLANNED_PATH: Final = re.compile(
    r"^(?!.*\.\.)[A-Za-z0-9_][A-Za-z0-9_./-]{0,120}\.(py|md|txt|toml|cfg|ini|json|ya?ml)$"
)
_BULLET: Final = re.compile(r"^\s*(?:[-*+]|\d+[.)])?\s*`?([^`\s]+)`?")
_FENCE: Final = re.compile(r"```[A-Za-z0-9_+-]*\n(.*?)(?:```|\Z)", re.DOTALL)
_STOP_WORDS: Final = frozenset(
    "a an the and or with without to for of in on by add create implement build make new module "
    "support simple basic using use into from that this".split()
)


@dataclass(frozen=True, slots=True)
class Plan:
    files: list[str]
    source: Literal["model", "fallback"]


@dataclass(slots=True)
class WrittenFile:
    path: str
    content: str
    notes: list[str] = field(default_factory=list)  # "trimmed to the part that parses", ...


class CodeWriter(Protocol):
    model: str

    async def plan(self, goal: str, parameters: dict[str, Any], existing: list[str]) -> Plan: ...

    async def write(self, path: str, goal: str, parameters: dict[str, Any], plan: Plan) -> WrittenFile: ...


def goal_slug(goal: str) -> str:
    words = [w for w in re.findall(r"[a-z][a-z0-9]*", goal.lower()) if w not in _STOP_WORDS]
    return "_".join(words[:2]) or "feature"


def fallback_plan(goal: str, parameters: dict[str, Any]) -> Plan:
    slug = goal_slug(goal)
    files = [f"{slug}.py"]
    if parameters.get("include_tests", True) is not False:
        files.append(f"tests/test_{slug}.py")
    return Plan(files, "fallback")


def parse_plan(text: str, limit: int) -> list[str]:
    found: list[str] = []
    for line in text.splitlines():
        match = _BULLET.match(line)
        if match is None:
            continue
        candidate = match.group(1).strip().strip("\"',:;").removeprefix("./")
        if PLANNED_PATH.fullmatch(candidate) and candidate not in found:
            found.append(candidate)
        if len(found) == limit:
            break
    return found


def with_tests(files: list[str], parameters: dict[str, Any], limit: int) -> list[str]:
    """Tests are asked for unless `include_tests` is false: add one for the first module when missing."""
    if parameters.get("include_tests", True) is False or any(_is_test(path) for path in files):
        return files
    module = next((path for path in files if path.endswith(".py")), None)
    if module is None:
        return files
    stem = module.rsplit("/", 1)[-1].removesuffix(".py")
    return [*files[: limit - 1], f"tests/test_{stem}.py"]


def _is_test(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.startswith("test_") or name.endswith("_test.py")


def extract_code(text: str) -> str:
    fenced = _FENCE.search(text)
    return (fenced.group(1) if fenced else text).strip("\n") + "\n"


def parsable_prefix(source: str) -> tuple[str, bool]:
    """(the longest prefix of whole lines that parses, whether anything was cut)."""
    lines = source.splitlines(keepends=True)
    for end in range(len(lines), 0, -1):
        candidate = "".join(lines[:end])
        try:
            ast.parse(candidate)
        except (SyntaxError, ValueError):
            continue
        return candidate, end < len(lines)
    return "", bool(lines)


def _module_of(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


class LLMCodeWriter:
    def __init__(self, llm: LLMService, settings: BuildsSettings) -> None:
        self.llm = llm
        self.settings = settings
        self.model = llm.resolve(settings.model).model_id

    def _params(self, max_tokens: int, stop: tuple[str, ...] = ()) -> GenerationParams:
        return GenerationParams(
            max_tokens=max_tokens, temperature=self.settings.temperature, stop=stop, seed=7
        )

    async def plan(self, goal: str, parameters: dict[str, Any], existing: list[str]) -> Plan:
        shown = ", ".join(existing[:30]) or "none"
        messages = [
            ChatMessage(
                "system", "You are a senior Python engineer. Answer with file paths only, one per line."
            ),
            ChatMessage(
                "user",
                f"Goal: {goal}\nParameters: {json.dumps(parameters, sort_keys=True)}\n"
                f"Existing files: {shown}\nWhich files should be created? "
                "List relative paths of Python modules and their pytest tests.",
            ),
        ]
        generation = await self.llm.generate(
            messages, model=self.model, params=self._params(self.settings.planning_max_tokens)
        )
        files = parse_plan(generation.completion.text, self.settings.max_files)
        if not any(path.endswith(".py") for path in files):
            return fallback_plan(goal, parameters)
        return Plan(with_tests(files, parameters, self.settings.max_files), "model")

    async def write(self, path: str, goal: str, parameters: dict[str, Any], plan: Plan) -> WrittenFile:
        others = ", ".join(p for p in plan.files if p != path) or "none"
        if _is_test(path):
            modules = [p for p in plan.files if p.endswith(".py") and not _is_test(p)]
            names = ", ".join(_module_of(m) for m in modules) or "of the project"
            subject = f"pytest tests for the modules {names}"
        else:
            subject = "the module"
        messages = [
            ChatMessage(
                "system",
                "You write complete, working Python 3 code. Reply with the file's content only, no prose.",
            ),
            ChatMessage(
                "user",
                f"Goal: {goal}\nParameters: {json.dumps(parameters, sort_keys=True)}\n"
                f"Other files of this change: {others}\nWrite {subject} in the file {path}.",
            ),
        ]
        generation = await self.llm.generate(
            messages, model=self.model, params=self._params(self.settings.max_tokens_per_file)
        )
        content = extract_code(generation.completion.text)
        if not path.endswith(".py"):
            return WrittenFile(path, content)
        kept, cut = parsable_prefix(content)
        if not kept.strip():
            return WrittenFile(path, content, ["the model's code does not parse as Python; written as given"])
        notes = ["trimmed to the part that parses as Python"] if cut else []
        return WrittenFile(path, kept, notes)
