"""``python -m torchlint.devtools new-rule``: a new built-in rule's files, where ``layout`` says.

It writes the rule module (metadata, needles, a visitor with a small working check the author
replaces), its page with the sections every page has, and one case file that must be reported and
one that must not. Registration needs nothing more: the registry finds every ``Rule`` with a code in
the rules package. It never overwrites a file and refuses a code or name already taken.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from torchlint.diagnostics import Category, Severity
from torchlint.layout import Layout, class_name, is_code, is_name, module_name


class ScaffoldError(Exception):
    pass


@dataclass(frozen=True)
class NewRule:
    code: str
    name: str
    category: Category
    severity: Severity
    summary: str
    preview: bool = False

    @property
    def placeholder_call(self) -> str:
        """The call the skeleton reports until its author writes the real check."""
        return f"torch.{module_name(self.name)}"


def _taken(layout: Layout) -> tuple[set[str], set[str]]:
    """The codes and names of the built-in rules under ``layout`` (from its rule index)."""
    try:
        entries = json.loads(layout.rule_index.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ScaffoldError(f"cannot read {layout.rule_index}: {exc}") from exc
    return {str(e["code"]) for e in entries}, {str(e["name"]) for e in entries}


def check(layout: Layout, rule: NewRule) -> list[Path]:
    """The files the scaffold would write; raises ScaffoldError when it must not write them."""
    if not is_code(rule.code):
        raise ScaffoldError(f"{rule.code!r} is not a rule code (TL and three digits: TL123)")
    if not is_name(rule.name):
        raise ScaffoldError(
            f"{rule.name!r} is not a rule name (lowercase words joined by '-': my-new-rule)"
        )
    if not rule.summary.strip() or "\n" in rule.summary:
        raise ScaffoldError("the summary is one sentence on one line")
    codes, names = _taken(layout)
    if rule.code in codes:
        raise ScaffoldError(f"{rule.code} is taken by a built-in rule")
    if rule.name in names:
        raise ScaffoldError(f"{rule.name!r} is taken by a built-in rule")
    paths = _files(layout, rule)
    existing = [str(p) for p in [*paths, layout.cases_dir(rule.code)] if p.exists()]
    if existing:
        raise ScaffoldError(f"already there, not overwritten: {', '.join(existing)}")
    return paths


def _files(layout: Layout, rule: NewRule) -> list[Path]:
    cases = layout.cases_dir(rule.code)
    return [
        layout.module_path(rule.name),
        layout.page_path(rule.code),
        cases / "reported.py",
        cases / "not_reported.py",
    ]


def write(layout: Layout, rule: NewRule) -> list[Path]:
    """Write the rule's module, page and cases; returns the files written."""
    paths = check(layout, rule)
    texts = [rule_module(rule), rule_page(rule), reported_case(rule), clean_case(rule)]
    paths[2].parent.mkdir(parents=True)
    for path, text in zip(paths, texts, strict=True):
        with path.open("x", encoding="utf-8", newline="\n") as out:  # "x": never overwrite
            out.write(text)
    return paths


def rule_module(rule: NewRule) -> str:
    summary = rule.summary.replace("\\", "\\\\").replace('"', '\\"')
    preview = "    preview = True\n" if rule.preview else ""
    return f'''"""{rule.code} {rule.name}: {rule.summary.rstrip(".")}."""

from __future__ import annotations

import libcst as cst

from torchlint.diagnostics import Category, Precision, Severity
from torchlint.rule import Rule

# The calls this rule reports. The scaffold's stand-in: replace it with the rule's own check.
REPORTED_CALLS = frozenset({{"{rule.placeholder_call}"}})


class {class_name(rule.name)}(Rule):
    code = "{rule.code}"
    name = "{rule.name}"
    summary = "{summary}"
    category = Category.{rule.category.name}
    severity = Severity.{rule.severity.name}
    precision = Precision.{"HEURISTIC" if rule.preview else "HIGH"}
{preview}    # A file containing none of these strings is never parsed for this rule.
    needles = ("{module_name(rule.name)}",)

    def visit_Call(self, node: cst.Call) -> None:
        if self.context.qualified_name(node.func) in REPORTED_CALLS:
            self.report(node, "`{rule.placeholder_call}` is called")
'''


def rule_page(rule: NewRule) -> str:
    precision = (
        "preview rule, not in the default set; not measured on the ecosystem corpus"
        if rule.preview
        else "not measured yet (`python benchmarks/ecosystem/run.py --write-docs` writes this line)"
    )
    return f"""# {rule.code} {rule.name}

- **Category:** {rule.category.value}
- **Severity:** {rule.severity.value}
- **Precision:** {precision}
- **Fix:** none

## What it does

{rule.summary.rstrip(".")}. As scaffolded, it reports every call of `{rule.placeholder_call}`.

## Why is this bad?

Say what goes wrong at run time (a wrong result, a crash, wasted time) and when.

## Example

```python
import torch

torch.{module_name(rule.name)}()
```

## Use instead

```python
import torch

torch.manual_seed(0)
```

## References

- [PyTorch documentation](https://pytorch.org/docs/stable/index.html)
"""


def reported_case(rule: NewRule) -> str:
    return f"""import torch

torch.{module_name(rule.name)}()  # expect: {rule.code}
"""


def clean_case(rule: NewRule) -> str:
    return f"""import torch

torch.manual_seed(0)
{module_name(rule.name)}()
"""
