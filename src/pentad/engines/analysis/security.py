"""Security: bandit's findings, with a title and a recommendation per bandit test id.

Severity is bandit's own (LOW/MEDIUM/HIGH lowercased; UNDEFINED becomes low). `assert` findings (B101) in
test files are dropped: asserts are how tests check things.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, TypeAdapter

from pentad.engines.analysis.models import SecurityIssue, Severity
from pentad.engines.analysis.project import is_test_support
from pentad.engines.analysis.runner import CommandRunner
from pentad.engines.analysis.settings import AnalysisSettings
from pentad.engines.analysis.tools import normalise_path, parse_json, run_tool


@dataclass(frozen=True, slots=True)
class Advice:
    title: str
    recommendation: str  # the issue's `recommendation`
    action: str  # a recommendation line; "{where}" becomes "app/db.py line 12"


_PASSWORD = Advice(
    "Hardcoded password",
    "Load secrets from the environment or a secret store; never commit them.",
    "Move the hardcoded secret in {where} to configuration or a secret store",
)
_SUBPROCESS_SHELL = Advice(
    "Shell command injection",
    "Run commands as an argv list without a shell (subprocess.run([...], shell=False)); never build shell "
    "strings from input.",
    "Run the command in {where} as an argv list without a shell",
)
_XML = Advice(
    "Unsafe XML parsing",
    "Parse untrusted XML with defusedxml.",
    "Parse the XML in {where} with defusedxml",
)
_WEAK_CRYPTO = Advice(
    "Weak cryptography",
    "Use a modern algorithm: SHA-256 or better for hashing, AES-GCM or ChaCha20-Poly1305 for encryption; "
    "pass usedforsecurity=False where a weak hash is not used for security.",
    "Replace the weak cryptography in {where}",
)
_TLS = Advice(
    "Insecure TLS",
    "Keep certificate verification on and use TLS 1.2 or later.",
    "Enable certificate verification and a current TLS version in {where}",
)

ADVICE: dict[str, Advice] = {
    "B101": Advice(
        "Assert used for a runtime check",
        "asserts vanish under python -O; raise an exception for checks that must hold.",
        "Replace the assert in {where} with an explicit check that raises",
    ),
    "B102": Advice(
        "Use of exec",
        "Do not execute dynamic code; dispatch to known functions instead.",
        "Remove exec() from {where}",
    ),
    "B103": Advice(
        "Permissive file permissions",
        "Grant the least permissions needed (e.g. 0o600 for private files).",
        "Tighten the file permissions set in {where}",
    ),
    "B104": Advice(
        "Binding to all interfaces",
        "Bind to a specific interface (127.0.0.1 by default) and make the address configurable.",
        "Bind to a specific interface instead of 0.0.0.0 in {where}",
    ),
    "B105": _PASSWORD,
    "B106": _PASSWORD,
    "B107": _PASSWORD,
    "B108": Advice(
        "Insecure temporary file",
        "Create temporary files with the tempfile module (mkstemp, TemporaryDirectory), not fixed paths.",
        "Use the tempfile module instead of a fixed temporary path in {where}",
    ),
    "B110": Advice(
        "Exception silently ignored",
        "Catch the specific exception and log or handle it; do not `pass`.",
        "Handle or log the exception swallowed in {where}",
    ),
    "B112": Advice(
        "Exception silently ignored",
        "Catch the specific exception and log or handle it; do not `continue`.",
        "Handle or log the exception swallowed in {where}",
    ),
    "B113": Advice(
        "HTTP request without timeout",
        "Pass a timeout to every HTTP request so a slow server cannot hang the caller.",
        "Add a timeout to the HTTP request in {where}",
    ),
    "B201": Advice(
        "Flask debug mode",
        "Never run Flask with debug=True in production: the debugger executes arbitrary code.",
        "Turn off Flask debug mode in {where}",
    ),
    "B301": Advice(
        "Unsafe deserialisation (pickle)",
        "Never unpickle untrusted data; use JSON or another data-only format.",
        "Replace pickle with a data-only format such as JSON in {where}",
    ),
    "B302": Advice(
        "Unsafe deserialisation (marshal)",
        "Never unmarshal untrusted data; use JSON or another data-only format.",
        "Replace marshal with a data-only format in {where}",
    ),
    "B303": _WEAK_CRYPTO,
    "B304": _WEAK_CRYPTO,
    "B305": _WEAK_CRYPTO,
    "B306": Advice(
        "Insecure temporary file (mktemp)",
        "Use tempfile.mkstemp or NamedTemporaryFile; mktemp is racy.",
        "Replace tempfile.mktemp with mkstemp in {where}",
    ),
    "B307": Advice(
        "Use of eval",
        "Never eval input; use ast.literal_eval for literals or an explicit parser.",
        "Replace eval() with ast.literal_eval or a parser in {where}",
    ),
    "B308": Advice(
        "Cross-site scripting (mark_safe)",
        "Escape user content instead of marking it safe.",
        "Escape the content marked safe in {where}",
    ),
    "B310": Advice(
        "URL open with arbitrary scheme",
        "Allow only http(s) URLs (check the scheme) before opening them.",
        "Check the URL scheme before opening it in {where}",
    ),
    "B311": Advice(
        "Insecure randomness",
        "Use the secrets module for tokens, passwords and keys.",
        "Use the secrets module instead of random in {where}",
    ),
    "B312": Advice(
        "Telnet use",
        "Telnet is unencrypted; use SSH.",
        "Replace telnet with SSH in {where}",
    ),
    **dict.fromkeys(
        (
            "B313",
            "B314",
            "B315",
            "B316",
            "B317",
            "B318",
            "B319",
            "B320",
            "B405",
            "B406",
            "B407",
        ),
        _XML,
    ),
    "B321": Advice(
        "FTP use", "FTP is unencrypted; use SFTP or HTTPS.", "Replace FTP with SFTP or HTTPS in {where}"
    ),
    "B323": _TLS,
    "B324": _WEAK_CRYPTO,
    "B403": Advice(
        "Pickle imported",
        "Make sure pickle never loads untrusted data; prefer JSON.",
        "Check that the pickle imported in {where} never loads untrusted data",
    ),
    "B404": Advice(
        "Subprocess imported",
        "Make sure commands are argv lists built from trusted values, without a shell.",
        "Check the subprocess calls of {where} run argv lists without a shell",
    ),
    "B501": _TLS,
    "B502": _TLS,
    "B503": _TLS,
    "B504": _TLS,
    "B505": Advice(
        "Weak cryptographic key",
        "Use RSA/DSA keys of at least 2048 bits and EC keys of at least 224 bits.",
        "Use a longer key in {where}",
    ),
    "B506": Advice(
        "Unsafe YAML load",
        "Use yaml.safe_load; yaml.load can construct arbitrary objects.",
        "Use yaml.safe_load in {where}",
    ),
    "B507": Advice(
        "SSH host key not verified",
        "Verify host keys (paramiko RejectPolicy and known_hosts).",
        "Verify the SSH host key in {where}",
    ),
    "B601": _SUBPROCESS_SHELL,
    "B602": _SUBPROCESS_SHELL,
    "B603": Advice(
        "Subprocess without shell",
        "Make sure the argv comes from trusted values.",
        "Check that the command run in {where} is built from trusted values",
    ),
    "B604": _SUBPROCESS_SHELL,
    "B605": _SUBPROCESS_SHELL,
    "B606": Advice(
        "Process started without shell",
        "Make sure the argv comes from trusted values.",
        "Check that the process started in {where} is built from trusted values",
    ),
    "B607": Advice(
        "Process started with a partial path",
        "Run programs by absolute path (or resolve them with shutil.which) so PATH cannot redirect them.",
        "Use an absolute program path in {where}",
    ),
    "B608": Advice(
        "SQL injection",
        "Use parameterized queries: placeholders in the SQL, values passed separately to execute().",
        "Parameterise the SQL query in {where}",
    ),
    "B609": Advice(
        "Wildcard injection",
        "Do not pass shell wildcards to commands; list the files in Python.",
        "Expand the wildcard in Python instead of the command in {where}",
    ),
    "B610": Advice(
        "SQL injection (Django extra)",
        "Use the ORM's parameters instead of QuerySet.extra with interpolated SQL.",
        "Parameterise the Django query in {where}",
    ),
    "B611": Advice(
        "SQL injection (Django RawSQL)",
        "Pass parameters to RawSQL instead of interpolating them.",
        "Parameterise the RawSQL in {where}",
    ),
    "B701": Advice(
        "Jinja2 autoescape off",
        "Create Jinja2 environments with autoescape=True (or select_autoescape()).",
        "Turn on Jinja2 autoescaping in {where}",
    ),
    "B702": Advice(
        "Mako templates without escaping",
        "Use default_filters=['h'] so Mako escapes output.",
        "Escape the Mako template output in {where}",
    ),
    "B703": Advice(
        "Cross-site scripting (Django mark_safe)",
        "Escape user content instead of marking it safe.",
        "Escape the content marked safe in {where}",
    ),
}

_SEVERITY: dict[str, Severity] = {"LOW": "low", "MEDIUM": "medium", "HIGH": "high"}
SEVERITY_ORDER: dict[str, int] = {"high": 0, "medium": 1, "low": 2}


def advice_for(test_id: str, test_name: str, detail: str) -> Advice:
    known = ADVICE.get(test_id)
    if known is not None:
        return known
    title = test_name.replace("_", " ").capitalize() or test_id
    return Advice(
        title,
        f"Review this code: {detail.rstrip('.')}. See bandit's documentation for {test_id}.",
        f"Review the {title.lower()} finding ({test_id}) in {{where}}",
    )


class _BanditItem(BaseModel):
    model_config = ConfigDict(extra="ignore")

    filename: str
    line_number: int
    issue_severity: str
    issue_confidence: str
    issue_text: str
    test_id: str
    test_name: str = ""


class _BanditOutput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    results: list[_BanditItem]


_BANDIT = TypeAdapter(_BanditOutput)


async def run_bandit(
    runner: CommandRunner, workspace: str, files: list[str], settings: AnalysisSettings
) -> list[SecurityIssue]:
    args = ["bandit", "--format", "json", "--quiet", "--", *files]
    result = await run_tool(runner, "bandit", args, cwd=workspace, timeout_s=settings.bandit_timeout_s)
    issues = []
    for item in parse_json("bandit", _BANDIT, result.stdout).results:
        file = normalise_path(item.filename, workspace)
        if item.test_id == "B101" and is_test_support(file):
            continue
        advice = advice_for(item.test_id, item.test_name, item.issue_text)
        issues.append(
            SecurityIssue(
                issue=advice.title,
                severity=_SEVERITY.get(item.issue_severity.upper(), "low"),
                confidence=_SEVERITY.get(item.issue_confidence.upper(), "low"),
                line=item.line_number,
                file=file,
                recommendation=advice.recommendation,
                test_id=item.test_id,
                detail=item.issue_text,
            )
        )
    return sorted(issues, key=lambda i: (SEVERITY_ORDER[i.severity], i.file, i.line, i.test_id))
