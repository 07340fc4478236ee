"""Facts across files: the project index, its module names, and the cache that depends on it.

Each folder of ``fixtures/projects/`` is a small project whose files carry ``# expect: TLnnn``
markers; its ``pyproject.toml`` selects the rules it is about. Linting the folder must report every
marked line and nothing else.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from test_cli import run

from torchlint.analysis.summaries import summarize_source
from torchlint.project_index import ProjectIndex

ROOT = Path(__file__).resolve().parent.parent
PROJECTS = sorted(p for p in (ROOT / "fixtures" / "projects").iterdir() if p.is_dir())
_MARKER = re.compile(r"#\s*expect:\s*(?P<codes>TL\d{3}(?:\s*,\s*TL\d{3})*)")


def _expected(project: Path) -> set[tuple[str, int, str]]:
    out: set[tuple[str, int, str]] = set()
    for path in sorted(project.rglob("*.py")):
        relative = path.relative_to(project).as_posix()
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = _MARKER.search(line)
            if match:
                for code in match.group("codes").split(","):
                    out.add((relative, number, code.strip()))
    return out


def _reported(project: Path, *extra: str) -> set[tuple[str, int, str]]:
    result = run("check", ".", "--output-format", "json", *extra, cwd=project)
    assert result.exit_code in (0, 1), result.output
    return {
        (
            Path(d["filename"]).resolve().relative_to(project.resolve()).as_posix(),
            d["location"]["row"],
            d["code"],
        )
        for d in json.loads(result.output)
    }


@pytest.mark.parametrize("project", PROJECTS, ids=[p.name for p in PROJECTS])
def test_fixture_project(project: Path) -> None:
    expected = _expected(project)
    reported = _reported(project, "--no-cache")
    assert sorted(expected - reported) == [], "not reported"
    assert sorted(reported - expected) == [], "reported on unmarked lines"


@pytest.fixture
def split_project(tmp_path: Path) -> Path:
    target = tmp_path / "trainer_split"
    shutil.copytree(ROOT / "fixtures" / "projects" / "trainer_split", target)
    return target


def test_editing_an_imported_file_rechecks_its_importers(split_project: Path) -> None:
    """train.py's cached findings depend on utils.py: a helper that stops clearing the
    optimizer's gradients makes train.py's loop report TL001, though train.py did not change."""
    before = _reported(split_project)
    assert ("train.py", 13, "TL001") not in before
    assert _reported(split_project) == before  # answered from the cache
    utils = split_project / "utils.py"
    utils.write_text(utils.read_text().replace("optimizer.zero_grad(set_to_none=True)", "pass"))
    after = _reported(split_project)
    assert ("train.py", 13, "TL001") in after
    assert after - {("train.py", 13, "TL001")} == before


def test_editing_a_base_class_rechecks_the_subclass_file(split_project: Path) -> None:
    """models/net.py's TL002 comes from BaseModel.forward in models/base.py: once forward
    returns logits, the cached finding must go."""
    assert ("models/net.py", 28, "TL002") in _reported(split_project)
    base = split_project / "models" / "base.py"
    base.write_text(base.read_text().replace("F.softmax(self.head(x), dim=1)", "self.head(x)"))
    assert ("models/net.py", 28, "TL002") not in _reported(split_project)


def test_module_names_from_src_roots_and_packages(tmp_path: Path) -> None:
    (tmp_path / "src" / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "__init__.py").write_text("from .sub import tools\n")
    (tmp_path / "src" / "pkg" / "sub" / "__init__.py").write_text("")
    (tmp_path / "src" / "pkg" / "sub" / "tools.py").write_text(
        "import torch\n\ndef seed_all(s):\n    torch.manual_seed(s)\n"
    )
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "run.py").write_text("from pkg.sub import tools\n")
    index = ProjectIndex([tmp_path, tmp_path / "src"])
    assert index.module_name(tmp_path / "src" / "pkg" / "sub" / "tools.py") == (
        "pkg.sub.tools",
        False,
    )
    assert index.module_name(tmp_path / "src" / "pkg" / "__init__.py") == ("pkg", True)
    # Absolute, through a package's re-export, and relative imports all reach the function.
    for name in ("pkg.sub.tools.seed_all", "pkg.tools.seed_all"):
        found = index.lookup(name)
        assert found is not None and found.seeds == ("torch",), name
    relative = summarize_source("from .tools import seed_all\nfrom . import tools\n", "pkg.sub.x")
    assert relative.imports == {"seed_all": "pkg.sub.tools.seed_all", "tools": "pkg.sub.tools"}
    # run.py depends on tools.py (through the package), so its fingerprint follows tools.py.
    run_py = tmp_path / "scripts" / "run.py"
    first = index.dependency_fingerprint(run_py)
    assert first != ""
    index.set_source(tmp_path / "src" / "pkg" / "sub" / "tools.py", "def seed_all(s):\n    pass\n")
    assert index.dependency_fingerprint(run_py) != first
    assert index.lookup("pkg.sub.tools.seed_all").seeds == ()  # type: ignore[union-attr]


@pytest.mark.asyncio
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_language_server_follows_an_edited_imported_file(split_project: Path) -> None:
    """An editor changes utils.py (unsaved: the buffer, not the file, is what counts) and saves
    it: the open train.py is linted again against the new helper."""
    from lsprotocol import types
    from test_lsp import change_doc, diagnostics_for, session, until

    async with session(split_project) as client:
        train = split_project / "train.py"
        train_uri = train.as_uri()
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                types.TextDocumentItem(train_uri, "python", 1, train.read_text())
            )
        )
        first = await diagnostics_for(client, train_uri, 1)
        assert ("TL001", 12) not in {(d.code, d.range.start.line) for d in first}
        utils = split_project / "utils.py"
        utils_uri = utils.as_uri()
        text = utils.read_text()
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(utils_uri, "python", 1, text))
        )
        await diagnostics_for(client, utils_uri, 1)
        change_doc(
            client, utils_uri, 2, text.replace("optimizer.zero_grad(set_to_none=True)", "pass")
        )
        await diagnostics_for(client, utils_uri, 2)
        seen = len(client.published)
        client.text_document_did_save(
            types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(utils_uri))
        )

        def relinted() -> list[types.Diagnostic] | None:
            for params in client.published[seen:]:
                if params.uri == train_uri:
                    return list(params.diagnostics)
            return None

        await until(lambda: relinted() is not None, "train.py linted again")
        again = relinted()
        assert again is not None
        assert ("TL001", 12) in {(d.code, d.range.start.line) for d in again}


def test_function_summaries_record_what_a_caller_needs() -> None:
    source = """
import random
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch import seed_everything


def probabilities(model, x):
    logits = model(x)
    return F.softmax(logits, dim=1)


def log_probabilities(x):
    return x.log_softmax(-1)


def on_gpu(shape):
    return torch.zeros(shape, device="cuda:0")


def to_device(batch, device):
    return batch.to(device)


def everything(seed):
    seed_everything(seed)


def python_only(seed):
    random.seed(seed)
    np.random.seed(seed)


class Trainer:
    def reset(self, optimizer):
        optimizer.zero_grad()
        self.scheduler_opt.zero_grad()

    def step(self, loss):
        loss.backward()
        self.optimizer.step()

    def maybe(self, x):
        if self.training:
            return x
        return x.softmax(1)
"""
    summary = summarize_source(source, "pkg.train")
    functions = summary.functions
    assert functions["probabilities"].returns == "softmax"
    assert functions["log_probabilities"].returns == "log_softmax"
    assert functions["on_gpu"].returns_device == "cuda"
    assert functions["to_device"].moves_to_device == ("batch",)
    assert functions["everything"].seeds == ("cuda", "numpy", "random", "torch")
    assert functions["python_only"].seeds == ("numpy", "random")
    methods = summary.classes["Trainer"].methods
    assert methods["reset"].clears_grad == ("optimizer", "self.scheduler_opt")
    assert methods["reset"].cleared_arguments(["opt"]) == ["opt"]  # ``self`` is not passed
    assert methods["step"].backward and methods["step"].steps == ("self.optimizer",)
    assert methods["maybe"].returns is None  # logits while training: not always probabilities
