"""LLM overhead: time to first token and tokens/s of the bundled model through Pentad's
`/v1/chat/stream` (a real `pentad serve` process, SSE over HTTP) against llama-cpp-python called directly
on the same prompt, in one run. Greedy decoding, so both produce the same tokens.

Run: .venv/bin/python bench/bench_llm.py [--rounds 5] [--tokens 64]
Goal: Pentad adds under 5% to tokens/s and under 20 ms to time to first token.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from llama_cpp import Llama

from pentad.engines.llm.generation import ChatMessage
from pentad.engines.llm.model_files import resolve_model_path
from pentad.engines.llm.prompts import TRANSCRIPT_STOPS, render_transcript
from pentad.engines.llm.settings import PACKAGED_MODEL

API_KEY = "sk-bench-llm-key-0001"
SYSTEM = "You are Pentad, a helpful, concise assistant."
QUESTION = "Tell me a long story about a dragon who learns to cook."
THREADS = 2


def rates(started: float, first: float | None, last: float, tokens: int) -> tuple[float, float]:
    """(time to first token in ms, tokens/s after the first token)."""
    if first is None:
        return float("nan"), float("nan")
    decode = last - first
    return (first - started) * 1000, (tokens - 1) / decode if decode > 0 and tokens > 1 else float("nan")


def direct(llama: Llama, max_tokens: int) -> tuple[float, float, int]:
    prompt = render_transcript([ChatMessage("system", SYSTEM), ChatMessage("user", QUESTION)])
    started = time.perf_counter()
    first: float | None = None
    last = started
    pieces = 0
    stream = llama.create_completion(
        prompt, max_tokens=max_tokens, temperature=0.0, stop=list(TRANSCRIPT_STOPS), stream=True
    )
    for chunk in stream:
        if chunk["choices"][0]["text"]:
            last = time.perf_counter()
            first = first or last
            pieces += 1
    ttft, speed = rates(started, first, last, pieces)
    return ttft, speed, pieces


def through_pentad(client: httpx.Client, max_tokens: int) -> tuple[float, float, int]:
    body = {"message": QUESTION, "temperature": 0.0, "max_tokens": max_tokens}
    started = time.perf_counter()
    first: float | None = None
    last = started
    pieces = 0
    event = ""
    with client.stream("POST", "/v1/chat/stream", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event == "message" and json.loads(line[5:])["delta"]:
                last = time.perf_counter()
                first = first or last
                pieces += 1
    ttft, speed = rates(started, first, last, pieces)
    return ttft, speed, pieces


def start_server(work: Path, model_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = 18000 + os.getpid() % 1000
    config = work / "pentad.toml"
    config.write_text(
        f'[server]\ndata_dir = "{work / "data"}"\nport = {port}\n'
        f'[security]\njwt_secret = "{"b" * 48}"\nadmin_password = "bench-admin-password"\n'
        f'[security.api_key_users]\n"{API_KEY}" = "550e8400-e29b-41d4-a716-446655440000"\n'
        f'[rate_limits]\nassistant = "100000/minute"\n'
        f'[llm]\nmodel_dir = "{model_dir}"\nthreads = {THREADS}\n'
        '[logging]\nlevel = "warning"\n'
    )
    log = (work / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "pentad.cli", "serve", "--config", str(config)], stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("pentad serve did not start; see " + str(work / "server.log"))


def main(rounds: int, max_tokens: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="pentad-bench-llm-"))
    model_dir = work / "models"
    gguf = resolve_model_path(PACKAGED_MODEL, model_dir)
    llama = Llama(model_path=str(gguf), n_ctx=8192, n_threads=THREADS, verbose=False)
    process, url = start_server(work, model_dir)
    results: dict[str, list[tuple[float, float, int]]] = {"direct": [], "pentad": []}
    try:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=300
        ) as client:
            direct(llama, 4)  # warm both: load, first allocations
            through_pentad(client, 4)
            for _ in range(rounds):  # alternate, so drift in machine load hits both alike
                results["direct"].append(direct(llama, max_tokens))
                results["pentad"].append(through_pentad(client, max_tokens))
    finally:
        process.terminate()
        process.wait(10)
        llama.close()
    summary = {}
    for name, runs in results.items():
        ttft = statistics.median(run[0] for run in runs)
        speed = statistics.median(run[1] for run in runs)
        summary[name] = (ttft, speed)
        print(f"{name:<8} time to first token {ttft:7.1f} ms   {speed:6.2f} tokens/s   ({runs[0][2]} pieces)")
    ttft_added = summary["pentad"][0] - summary["direct"][0]
    speed_loss = 1 - summary["pentad"][1] / summary["direct"][1]
    print(f"Pentad adds {ttft_added:+.1f} ms to time to first token (goal < 20 ms)")
    print(f"Pentad changes tokens/s by {-speed_loss:+.1%} (goal: loses under 5%)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=64)
    arguments = parser.parse_args()
    main(arguments.rounds, arguments.tokens)
