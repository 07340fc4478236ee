"""Editor latency: ``textDocument/didChange`` -> ``textDocument/publishDiagnostics``.

Starts ``python -m torchlint lsp`` as a real subprocess, speaks LSP to it over stdio (pygls's
client), opens a generated 2,000-line training module with several findings, then edits it N times
and measures, for each edit, the wall time from sending ``didChange`` to receiving the diagnostics
for that document version. The server's debounce is part of the measured time (it is what a person
waits for); ``--debounce-ms`` passes a different one through ``initializationOptions``.

    python benchmarks/lsp_latency.py                # 2,000 lines, 20 edits
    python benchmarks/lsp_latency.py --lines 5000 --runs 30

Not run by CI: the numbers depend on the machine. The README (Editors, Latency) records what was
measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

BLOCK = """

class Model{i}(nn.Module):
    def __init__(self, hidden: int = {hidden}) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear({hidden}, hidden),
            nn.ReLU(),
            nn.Dropout(0.{drop}),
            nn.Linear(hidden, hidden // 2),
        )
        self.head = nn.Linear(hidden // 2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.encoder(x)
        return self.head(features)


def load_checkpoint_{i}(path: str, model: nn.Module) -> int:
    state = torch.load(path)
    model.load_state_dict(state["model"])
    return int(state.get("epoch", 0))


def train_{i}(model: nn.Module, loader, epochs: int = {epochs}) -> list[float]:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-{lr})
    criterion = nn.CrossEntropyLoss()
    history = []
    for epoch in range(epochs):
        model.train()
        running = 0.0
        for inputs, targets in loader:
            inputs, targets = inputs.to(device), targets.to(device)
            optimizer.zero_grad()
            outputs = model(inputs)
            loss = criterion(outputs, targets)
            loss.backward()
            optimizer.step()
            running += loss.item()
        history.append(running / max(len(loader), 1))
        torch.save({{"model": model.state_dict(), "epoch": epoch}}, f"ckpt_{i}_{{epoch}}.pt")
    return history


@torch.no_grad()
def evaluate_{i}(model: nn.Module, loader) -> float:
    model.eval()
    correct = total = 0
    for inputs, targets in loader:
        predictions = model(inputs).argmax(dim=1)
        correct += (predictions == targets).sum().item()
        total += targets.numel()
    return correct / max(total, 1)
"""

TIMING = re.compile(r" v(?P<v>\d+): .*engine (?P<engine>[\d.]+) ms, conversion (?P<conv>[\d.]+) ms")

HEADER = '''"""A generated training module: {lines} lines of ordinary PyTorch code."""

import torch
import torch.nn as nn
from torch.utils.data import DataLoader
'''


def generate(lines: int = 2000) -> str:
    """Realistic training code of about ``lines`` lines; each block has one `torch.load` finding."""
    parts = [HEADER.format(lines=lines)]
    i = 0
    while sum(p.count("\n") for p in parts) < lines:
        parts.append(
            BLOCK.format(
                i=i, hidden=64 + 16 * (i % 8), drop=1 + i % 5, epochs=3 + i % 4, lr=3 + i % 2
            )
        )
        i += 1
    text = "".join(parts)
    return "\n".join(text.splitlines()[:lines]) + "\n"


def engine_baseline(text: str, runs: int) -> list[float]:
    """A whole lint of the same text in this process (no LSP, no incremental reuse): what every
    version would cost without the server's incremental parse."""
    from torchlint.config import Settings
    from torchlint.engine import lint_source

    rules = Settings().rules
    times = []
    for _ in range(max(runs, 1)):
        start = time.perf_counter()
        lint_source(text, "train.py", rules)
        times.append((time.perf_counter() - start) * 1000)
    return times


async def measure(lines: int, runs: int, debounce_ms: int | None) -> dict[str, object]:
    client = LanguageClient("torchlint-benchmark", "1")
    arrived: dict[int, float] = {}
    counts: dict[int, int] = {}
    waiters: dict[int, asyncio.Future[None]] = {}
    server_ms: dict[int, tuple[float, float]] = {}  # version -> (engine, conversion), as logged

    @client.feature(types.WINDOW_LOG_MESSAGE)
    def on_log(params: types.LogMessageParams) -> None:
        found = TIMING.search(params.message)
        if found:
            server_ms[int(found["v"])] = (float(found["engine"]), float(found["conv"]))

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: types.PublishDiagnosticsParams) -> None:
        if params.version is None:
            return
        arrived[params.version] = time.perf_counter()
        counts[params.version] = len(params.diagnostics)
        waiter = waiters.get(params.version)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    with tempfile.TemporaryDirectory() as workspace:
        root = Path(workspace)
        (root / "pyproject.toml").write_text("[tool.torchlint]\n", encoding="utf-8")
        path = root / "train.py"
        text = generate(lines)
        path.write_text(text, encoding="utf-8")
        uri = path.as_uri()

        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        await client.start_io(sys.executable, "-m", "torchlint", "lsp", env=env)
        options: dict[str, object] = {"logTimings": True}
        if debounce_ms is not None:
            options["debounceMs"] = debounce_ms
        await client.initialize_async(
            types.InitializeParams(
                capabilities=types.ClientCapabilities(),
                root_uri=root.as_uri(),
                initialization_options=options,
            )
        )
        client.initialized(types.InitializedParams())

        loop = asyncio.get_running_loop()
        waiters[1] = loop.create_future()
        opened = time.perf_counter()
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
            )
        )
        await asyncio.wait_for(waiters[1], 60)
        first = arrived[1] - opened

        latencies: list[float] = []
        target_line = lines // 2
        for run in range(runs):
            version = run + 2
            waiters[version] = loop.create_future()
            # A keystroke: append a character to a comment in the middle of the file.
            edit = types.TextDocumentContentChangePartial(
                range=types.Range(
                    start=types.Position(line=target_line, character=0),
                    end=types.Position(line=target_line, character=0),
                ),
                text=f"# edit {run}\n",
            )
            sent = time.perf_counter()
            client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                    content_changes=[edit],
                )
            )
            await asyncio.wait_for(waiters[version], 60)
            latencies.append(arrived[version] - sent)
            await asyncio.sleep(0.05)

        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()

    return {
        "engine_ms": engine_baseline(text, runs=min(runs, 10)),
        "lines": lines,
        "findings": counts.get(runs + 1, counts.get(1, 0)),
        "open_ms": first * 1000,
        "latencies_ms": [x * 1000 for x in latencies],
        "server_engine_ms": [server_ms[v][0] for v in range(2, runs + 2) if v in server_ms],
        "server_conversion_ms": [server_ms[v][1] for v in range(2, runs + 2) if v in server_ms],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--debounce-ms", type=int, default=None, help="server debounce (default: the server's own)"
    )
    args = parser.parse_args()
    result = asyncio.run(measure(args.lines, args.runs, args.debounce_ms))
    latencies = sorted(result["latencies_ms"])  # type: ignore[arg-type]
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
        f"Python {platform.python_version()}"
    )
    print(f"file: {result['lines']} lines, {result['findings']} findings")
    print(f"didOpen -> diagnostics: {result['open_ms']:.1f} ms")
    print(
        f"didChange -> diagnostics over {len(latencies)} edits: "
        f"median {statistics.median(latencies):.1f} ms, "
        f"min {latencies[0]:.1f} ms, "
        f"p90 {latencies[int(0.9 * (len(latencies) - 1))]:.1f} ms, "
        f"max {latencies[-1]:.1f} ms"
    )
    for key, label in (("server_engine_ms", "engine"), ("server_conversion_ms", "conversion")):
        values = result[key]
        if values:
            print(
                f"  of which, inside the server: {label} median "  # type: ignore[arg-type]
                f"{statistics.median(values):.1f} ms"  # type: ignore[arg-type]
            )
    engine = result["engine_ms"]
    print(
        f"a whole lint in-process (lint_source, no reuse, {len(engine)} runs): "  # type: ignore[arg-type]
        f"median {statistics.median(engine):.1f} ms, min {min(engine):.1f} ms"  # type: ignore[arg-type]
    )


if __name__ == "__main__":
    main()
