"""Does any rule take more than linear time in the size of a file? Time generated files.

    python benchmarks/scaling.py                          # 5k, 10k, 25k, 50k lines, per family
    python benchmarks/scaling.py --sizes 5000,50000 --shape long-functions --json scaling.json
    python benchmarks/scaling.py --rules TL002,TL008 --repeat 3   # these rules one by one

Files are ordinary training code, generated: module classes, training loops, evaluation under
``no_grad``, checkpoint loading, a finding every few dozen lines. Shape ``modules`` is many short
definitions; ``long-functions`` puts the same statements into few, long training loops (what a
flow analysis over a loop body would feel). For every rule family (code prefix: TL0 correctness,
TL1 performance, TL2 security, TL3 deprecated APIs, TL4 reproducibility, TL5 devices and
distributed), every rule included (preview too), and for the engine alone (a rule that visits
nothing: parse, torch facts, the walk), ``lint_source`` is timed on each size, in CPU time of this
process (wall time on a shared machine is noise). The table gives
microseconds per line and the growth: per-line time at the largest size over the smallest;
"rules only" is the same for the time beyond the engine's. Linear code keeps both near 1; above
``--threshold`` (1.5) the family is flagged and each of its rules is timed alone at the smallest
and largest sizes. Nothing is asserted; nothing runs in CI.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from torchlint.diagnostics import Category, Precision, Severity  # noqa: E402
from torchlint.engine import lint_source  # noqa: E402
from torchlint.registry import all_rules  # noqa: E402
from torchlint.rule import Rule  # noqa: E402

FAMILIES = {
    "TL0": "correctness",
    "TL1": "performance",
    "TL2": "security",
    "TL3": "deprecated APIs",
    "TL4": "reproducibility",
    "TL5": "devices, distributed",
}

HEADER = """\
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.checkpoint import checkpoint
from torch.utils.data import DataLoader, DistributedSampler

"""

FOOTER = """\
if __name__ == "__main__":
    model = Block0()
    train_0(model, DataLoader([]), torch.optim.SGD(model.parameters(), lr=0.1), nn.MSELoss(), "cpu")
"""

# One of these follows each module chunk, in turn: between them they use what every rule looks
# for (its needles), so that every rule parses and visits the file rather than skipping it.
EXTRAS = (
    """\
def setup_{i}(model, dataset, rank):
    sampler = DistributedSampler(dataset)
    loader = DataLoader(dataset, batch_size=32, sampler=sampler, num_workers=4)
    ddp = DistributedDataParallel(model.cuda(rank), device_ids=[rank])
    return ddp, loader


""",
    """\
def amp_step_{i}(model, x, y, optimizer):
    scaler = torch.amp.GradScaler("cuda")
    with torch.autocast("cuda"):
        out = checkpoint(model, x, use_reentrant=False)
        loss = F.cross_entropy(out, y)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)


""",
    """\
def head_{i}(logits, target, training):
    probs = F.softmax(logits, dim=-1)
    h = F.dropout(logits, p=0.1, training=training)
    score = torch.sigmoid(h)
    return F.nll_loss(torch.log(probs + 1e-8), target), score


""",
    """\
def export_{i}(model, weights, path):
    backbone = torchvision.models.resnet18(weights=weights)
    scripted = torch.jit.script(model)
    w = model.fc.weight.data
    shape = torch.tensor(w.shape)
    torch.save(model.state_dict(), path)
    return scripted, backbone, shape


""",
    """\
def seed_{i}(seed):
    torch.backends.cudnn.benchmark = False
    torch.autograd.set_detect_anomaly(False)
    rng = np.random.default_rng(seed)
    return rng, torch.load("init.pt", weights_only=True)


""",
    """\
def legacy_{i}(model, x, images):
    from torch.autograd import Variable
    from torchvision import transforms

    v = Variable(x)
    buf = torch.Tensor(3)
    for p in model.parameters():
        p.require_grad = False
    tf = transforms.ToTensor()
    batch = torch.utils.data._utils.collate.default_collate(images)
    return model.forward(v), buf, tf, batch


""",
    """\
class ConvBlock{i}(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def accumulate_{i}(model, loader, optimizer, accumulation_steps=4):
    for step, (x, y) in enumerate(loader):
        loss = F.mse_loss(model(x), y) / accumulation_steps
        loss.backward()
        if (step + 1) % accumulation_steps == 0:
            optimizer.step()
            optimizer.zero_grad()
    torch.cuda.empty_cache()


""",
)


class EngineOnly(Rule):
    """Visits nothing: what the engine costs by itself (parse, torch facts, the walk)."""

    code = "TL999"
    name = "engine-only"
    summary = "nothing"
    category = Category.INTERNAL
    severity = Severity.INFO
    precision = Precision.HIGH


def module_chunk(i: int) -> str:
    load = "torch.load(path)" if i % 10 == 0 else 'torch.load(path, map_location="cpu")'
    item = "loss.item()" if i % 3 == 0 else "loss.detach()"
    return f"""\
class Block{i}(nn.Module):
    def __init__(self, dim={32 + i % 7}):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        h = self.norm(self.fc(x))
        h = F.relu(h)
        return x + self.drop(h)


def train_{i}(model, loader, optimizer, criterion, device):
    model.train()
    total = 0.0
    for step, (x, y) in enumerate(loader):
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        out = model(x)
        loss = criterion(out, y)
        loss.backward()
        optimizer.step()
        total += {item}
        if step % 100 == 0:
            print(f"step {{step}}: {{total / (step + 1):.4f}}")
    return total


@torch.no_grad()
def evaluate_{i}(model, loader, device):
    model.eval()
    correct = 0
    for x, y in loader:
        pred = model(x.to(device)).argmax(dim=1)
        correct += (pred == y.to(device)).sum()
    return correct / len(loader.dataset)


def load_{i}(path):
    state = {load}
    return {{k.replace("module.", ""): v for k, v in state.items()}}


""" + EXTRAS[i % len(EXTRAS)].format(i=i)


def loop_statements(i: int) -> str:
    """One iteration's worth of statements, for the long loops (8 spaces of indentation)."""
    extra = "        torch.cuda.empty_cache()\n" if i % 25 == 0 else ""
    return f"""\
        x{i}, y{i} = batch[{i % 4}].to(device), batch[{(i + 1) % 4}].to(device)
        out{i} = model(x{i})
        loss{i} = criterion(out{i}, y{i}) * math.exp(-{i % 5})
        losses.append(loss{i}.detach())
        if step % {10 + i % 7} == 0:
            print("loss", loss{i}.item(), os.getpid())
{extra}"""


def long_function(i: int, statements: int) -> str:
    body = "".join(loop_statements(i * 1000 + k) for k in range(statements))
    return (
        f"def train_{i}(model, loader, optimizer, criterion, device):\n"
        "    losses = []\n"
        "    for step, batch in enumerate(loader):\n"
        "        optimizer.zero_grad()\n"
        f"{body}"
        "        loss = torch.stack(losses).sum()\n"
        "        loss.backward()\n"
        "        optimizer.step()\n"
        "    return losses\n\n\n"
    )


def generate(lines: int, shape: str) -> str:
    parts = [HEADER]
    count = HEADER.count("\n")
    i = 0
    while count < lines:
        if shape == "modules":
            chunk = module_chunk(i)
        else:
            chunk = long_function(i, 150) + module_chunk(i)  # about a thousand lines
        parts.append(chunk)
        count += chunk.count("\n")
        i += 1
    parts.append(FOOTER)
    return "".join(parts)


def time_lint(source: str, rules: Sequence[type[Rule]], repeat: int) -> tuple[float, int]:
    best = float("inf")
    findings = 0
    for _ in range(repeat):
        start = time.process_time()
        outcome = lint_source(source, "generated.py", rules)
        best = min(best, time.process_time() - start)
        if outcome.internal_errors:
            errors = {e.rule: e.message.splitlines()[0] for e in outcome.internal_errors}
            print(f"  internal errors: {errors}", file=sys.stderr)
        findings = len(outcome.diagnostics)
    return best, findings


def run(
    sizes: list[int], shape: str, repeat: int, threshold: float, only: list[str] | None = None
) -> dict:
    rules = list(all_rules())
    groups: dict[str, list[type[Rule]]] = {"engine only": [EngineOnly]}
    if only:
        for rule in rules:
            if rule.code in only:
                groups[f"{rule.code} {rule.name}"] = [rule]
    else:
        for prefix, title in FAMILIES.items():
            members = [r for r in rules if r.code.startswith(prefix)]
            if members:
                groups[f"{prefix} {title} ({len(members)})"] = members
        groups[f"all rules ({len(rules)})"] = rules
    sources = {n: generate(n, shape) for n in sizes}
    actual = {n: s.count("\n") for n, s in sources.items()}
    print(f"shape {shape}: files of {', '.join(str(actual[n]) for n in sizes)} lines")
    widths = "".join(f" {f'{actual[n]} lines':>13} |" for n in sizes)
    print(f"| {'rules':<34} |{widths} {'growth':>6} | {'rules only':>10} |")
    print(f"|{'-' * 36}|" + "".join(f"{'-' * 15}|" for _ in sizes) + f"{'-' * 8}|{'-' * 12}|")
    small, large = sizes[0], sizes[-1]
    table: dict[str, dict] = {}
    engine: dict[int, float] = {}
    flagged = []
    for name, members in groups.items():
        row = {}
        for n in sizes:
            seconds, findings = time_lint(sources[n], members, repeat)
            row[n] = {"seconds": seconds, "us_per_line": 1e6 * seconds / actual[n],
                      "findings": findings}  # fmt: skip
        if members == [EngineOnly]:
            engine = {n: row[n]["us_per_line"] for n in sizes}
        growth, own, suspect = _growth({n: row[n]["us_per_line"] for n in sizes}, engine, sizes,
                                       threshold)  # fmt: skip
        table[name] = {"sizes": row, "growth": growth, "rules_only_growth": own}
        cells = "".join(f" {row[n]['us_per_line']:>7.1f} us/l |" for n in sizes)
        own_cell = "" if own is None else f"{own:.2f}"
        mark = " <-- superlinear" if suspect else ""
        print(f"| {name:<34} |{cells} {growth:>6.2f} | {own_cell:>10} |{mark}", flush=True)
        if suspect and len(members) > 1 and not name.startswith("all"):
            flagged.append(members)
    drill: dict[str, dict] = {}
    for members in flagged:
        for rule in members:
            times = {n: 1e6 * time_lint(sources[n], [rule], repeat)[0] / actual[n]
                     for n in (small, large)}  # fmt: skip
            growth, own, suspect = _growth(times, engine, [small, large], threshold)
            drill[rule.code] = {"growth": growth, "rules_only_growth": own}
            own_text = "" if own is None else f", rule alone {own:.2f}"
            print(f"  {rule.code} {rule.name}: growth {growth:.2f}{own_text}"
                  f"{' <-- superlinear' if suspect else ''}", flush=True)  # fmt: skip
    return {"shape": shape, "lines": actual, "groups": table, "per_rule_growth": drill}


def _growth(
    per_line: dict[int, float], engine: dict[int, float], sizes: list[int], threshold: float
) -> tuple[float, float | None, bool]:
    """(growth, growth of the time beyond the engine's, whether that looks superlinear).

    The engine's own per-line time grows a little with the size (a bigger tree, colder caches),
    so the rules' share is judged apart; it is trusted where it is a tenth of the engine's time.
    """
    small, large = sizes[0], sizes[-1]
    growth = per_line[large] / per_line[small]
    if not engine or per_line is engine:
        return growth, None, growth > threshold
    own_small = per_line[small] - engine[small]
    own_large = per_line[large] - engine[large]
    if own_small < 0.1 * engine[small] or own_large < 0.1 * engine[large]:
        return growth, None, growth > threshold
    own = own_large / own_small
    return growth, own, growth > threshold or own > threshold


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="5000,10000,25000,50000", help="lines, comma-separated")
    parser.add_argument("--shape", choices=["modules", "long-functions", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs per cell")
    parser.add_argument("--threshold", type=float, default=1.5, help="growth flagged above this")
    parser.add_argument("--rules", help="time these rules (codes, comma-separated) one by one")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args(argv)
    only = [c.strip().upper() for c in args.rules.split(",")] if args.rules else None
    sizes = sorted(int(s) for s in args.sizes.split(","))
    shapes = ["modules", "long-functions"] if args.shape == "both" else [args.shape]
    print(f"machine: {platform.machine()}, Python {platform.python_version()}; "
          f"CPU time, best of {args.repeat}; growth = per-line time at the largest / at the smallest size")  # fmt: skip
    report = [run(sizes, shape, args.repeat, args.threshold, only) for shape in shapes]
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
