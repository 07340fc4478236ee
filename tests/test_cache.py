"""The results cache and the process pool: fast, but never wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli import BAD, CLEAN, run

import torchlint.cache


def findings(result) -> list[tuple[str, int, str]]:  # noqa: ANN001
    return [
        (Path(d["filename"]).name, d["location"]["row"], d["code"])
        for d in json.loads(result.output)
    ]


def entries(root: Path) -> list[Path]:
    return sorted((root / ".torchlint_cache").rglob("*.json"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.torchlint]\n")
    (tmp_path / "a.py").write_text(BAD)
    (tmp_path / "b.py").write_text(CLEAN)
    return tmp_path


def test_cache_is_created_with_gitignore(project: Path) -> None:
    run(".", cwd=project)
    cache = project / ".torchlint_cache"
    assert (cache / ".gitignore").read_text().strip().endswith("*")
    assert len(entries(project)) == 2


def test_warm_run_gives_the_same_findings(project: Path) -> None:
    cold = run("--output-format", "json", ".", cwd=project)
    warm = run("--output-format", "json", ".", cwd=project)
    assert findings(cold) == findings(warm) == [("a.py", 3, "TL201")]
    assert json.loads(cold.output) == json.loads(warm.output)  # fixes included


def test_editing_a_file_invalidates(project: Path) -> None:
    run(".", cwd=project)
    (project / "b.py").write_text(BAD)
    assert findings(run("--output-format", "json", ".", cwd=project)) == [
        ("a.py", 3, "TL201"),
        ("b.py", 3, "TL201"),
    ]


def test_changing_config_invalidates(project: Path) -> None:
    run(".", cwd=project)
    (project / "pyproject.toml").write_text('[tool.torchlint]\nignore = ["TL201"]\n')
    assert run(".", cwd=project).exit_code == 0
    (project / "pyproject.toml").write_text('[tool.torchlint]\ntorch-version = "2.6"\n')
    assert "default is True only from torch 2.6" in run(".", cwd=project).output


def test_new_version_invalidates(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run(".", cwd=project)
    before = set(entries(project))
    monkeypatch.setattr(torchlint.cache, "__version__", "999.0")
    run(".", cwd=project)
    assert set(entries(project)) - before, "an upgrade must not reuse old entries"


def test_truncated_entry_is_ignored(project: Path) -> None:
    run(".", cwd=project)
    for entry in entries(project):
        entry.write_text(entry.read_text()[:7])
    assert findings(run("--output-format", "json", ".", cwd=project)) == [("a.py", 3, "TL201")]
    for entry in entries(project):  # rewritten whole
        json.loads(entry.read_text())


def test_entry_with_wrong_content_is_not_trusted(project: Path) -> None:
    run(".", cwd=project)
    for entry in entries(project):
        entry.write_text(json.dumps({"key": "other", "diagnostics": []}))
    assert findings(run("--output-format", "json", ".", cwd=project)) == [("a.py", 3, "TL201")]


def test_no_cache_and_cache_dir(project: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    run("--no-cache", ".", cwd=project)
    assert not (project / ".torchlint_cache").exists()
    elsewhere = tmp_path_factory.mktemp("cache")
    run("--cache-dir", str(elsewhere), ".", cwd=project)
    assert list(elsewhere.rglob("*.json"))
    assert not (project / ".torchlint_cache").exists()


def test_clean_removes_caches(project: Path) -> None:
    run(".", cwd=project)
    result = run("clean", cwd=project)
    assert "Removed" in result.output
    assert not (project / ".torchlint_cache").exists()


def test_concurrent_runs_do_not_corrupt(project: Path) -> None:
    for index in range(40):
        (project / f"m{index}.py").write_text(BAD if index % 2 else CLEAN)
    command = [sys.executable, "-m", "torchlint", "--output-format", "json", "-j", "2", "."]
    procs = [
        subprocess.Popen(
            command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 1 for p in procs), [err for _, err in outputs]
    results = [json.loads(out) for out, _ in outputs]
    assert results[0] == results[1] == results[2]
    for entry in entries(project):
        json.loads(entry.read_text())
    warm = run("--output-format", "json", ".", cwd=project)
    assert json.loads(warm.output) == results[0]


def test_parallel_results_match_serial_order(project: Path) -> None:
    for index in range(30):
        (project / f"m{index:02}.py").write_text(BAD)
    serial = run("--no-cache", "-j", "1", "--output-format", "json", ".", cwd=project)
    parallel = run("--no-cache", "-j", "2", "--output-format", "json", ".", cwd=project)
    assert serial.output == parallel.output
    assert len(json.loads(serial.output)) == 31


def test_warm_run_needs_neither_libcst_nor_the_rules(project: Path) -> None:
    """A run answered from the cache skips importing LibCST and the rule modules (half its time)."""
    # The real CLI in a fresh interpreter; on exit it lists which of those modules it imported.
    script = (
        "import atexit, runpy, sys\n"
        "atexit.register(lambda: print(sorted(m for m in sys.modules if m == 'libcst' or "
        "m.startswith('torchlint.rules.')), file=sys.stderr))\n"
        "sys.argv = ['torchlint', '--no-color', '.']\n"
        "runpy.run_module('torchlint', run_name='__main__')\n"
    )

    def loaded() -> tuple[subprocess.CompletedProcess[str], str]:
        proc = subprocess.run(
            [sys.executable, "-c", script], cwd=project, capture_output=True, text=True
        )
        return proc, proc.stderr.strip().splitlines()[-1]

    cold, cold_modules = loaded()
    assert cold.returncode == 1 and "TL201" in cold.stdout
    assert (
        "'libcst'" in cold_modules
        and "'torchlint.rules.torch_load_without_weights_only'" in cold_modules
    )
    warm, warm_modules = loaded()
    assert warm.returncode == 1 and warm.stdout == cold.stdout
    assert warm_modules == "[]"
    (project / "b.py").write_text(BAD + "# new content: a miss, so the engine is loaded\n")
    touched, touched_modules = loaded()
    assert "Found 2 problems" in touched.stdout and "'libcst'" in touched_modules


def test_rule_index_matches_the_rule_classes() -> None:
    """``data/rule_index.json`` is regenerated with ``python -m torchlint.devtools rule-index``."""
    from torchlint.registry import RULE_INDEX, all_rule_refs, all_rules, rule_index

    assert json.loads(RULE_INDEX.read_text(encoding="utf-8")) == rule_index()
    assert [r.load() for r in all_rule_refs()] == list(all_rules())


ANOMALY = "import torch\ntorch.autograd.set_detect_anomaly(True)\n"


def test_same_content_at_another_path_is_not_answered_from_its_entry(project: Path) -> None:
    """Rules read the path (TL108 is silent in test files): the path is part of the key."""
    (project / "src").mkdir()
    (project / "tests").mkdir()
    (project / "src" / "train_utils.py").write_text(ANOMALY)
    (project / "tests" / "test_grad.py").write_text(ANOMALY)
    in_tests = run("--select", "TL108", "tests", cwd=project)
    assert in_tests.exit_code == 0 and "All checks passed!" in in_tests.output
    in_src = run("--select", "TL108", "src", cwd=project)
    assert in_src.exit_code == 1, in_src.output
    assert f"{Path('src', 'train_utils.py')}:2:1: TL108" in in_src.output
    # Warm runs (one entry per path now) answer each the same again.
    assert run("--select", "TL108", "tests", cwd=project).exit_code == 0
    assert run("--select", "TL108", "src", cwd=project).exit_code == 1


def test_editing_the_packages_data_files_invalidates(tmp_path: Path) -> None:
    """``torchlint/data/*.json`` (TL306's deprecation table) is code too: a copy of the package
    whose table is edited must not answer from entries written before the edit."""
    import shutil

    package = tmp_path / "site" / "torchlint"
    shutil.copytree(
        Path(torchlint.cache.__file__).resolve().parent,
        package,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    work = tmp_path / "work"
    work.mkdir()
    (work / "pyproject.toml").write_text("[tool.torchlint]\n")
    (work / "m.py").write_text("import torch\n\nx = torch.solve(a, b)\n")
    env = {**os.environ, "PYTHONPATH": str(package.parent)}

    def messages() -> list[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "torchlint", "--select", "TL306", "--output-format", "json"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 1, proc.stderr
        return [d["message"] for d in json.loads(proc.stdout)]

    old_note = "takes its arguments in the opposite order"
    (before,) = messages()
    assert old_note in before
    assert list((work / ".torchlint_cache").rglob("*.json"))
    table = package / "data" / "deprecations.json"
    table.write_text(table.read_text().replace(old_note, "NOTE EDITED IN THE TABLE"))
    (after,) = messages()
    assert "NOTE EDITED IN THE TABLE" in after and old_note not in after


def _with_test_plugin(plugin: Path, user_cache: Path) -> dict[str, str]:
    """The environment of a torchlint process that finds the test plug-in (``tests/data/plugin``:
    a package and its dist-info on the path, no installer's RECORD, so its files are stamped)."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(plugin), *sys.path]),
        "XDG_CACHE_HOME": str(user_cache),  # where the plug-in index goes: fresh
    }


def test_warm_run_imports_no_plugin(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A plug-in's rules are selected from its index in the user cache: a run answered from the
    cache imports neither the plug-in nor LibCST."""
    from test_plugins import PLUGIN_PATH

    env = _with_test_plugin(PLUGIN_PATH, tmp_path_factory.mktemp("user-cache"))
    (project / "b.py").write_text('print("hi")\n')
    script = (
        "import atexit, runpy, sys\n"
        "atexit.register(lambda: print(sorted(m for m in sys.modules if m == 'libcst' or "
        "m.startswith('torchlint_example_plugin')), file=sys.stderr))\n"
        "sys.argv = ['torchlint', '--no-color', '.']\n"
        "runpy.run_module('torchlint', run_name='__main__')\n"
    )

    def loaded() -> tuple[subprocess.CompletedProcess[str], str]:
        proc = subprocess.run(
            [sys.executable, "-c", script], cwd=project, env=env, capture_output=True, text=True
        )
        return proc, proc.stderr.strip().splitlines()[-1]

    cold, cold_modules = loaded()
    assert cold.returncode == 1 and "b.py:1:1: XPL001" in cold.stdout, cold.stderr
    assert cold_modules == "['libcst', 'torchlint_example_plugin']"
    warm, warm_modules = loaded()
    assert warm.stdout == cold.stdout
    assert warm_modules == "[]"


def test_editing_a_plugin_invalidates(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A plug-in whose files change in place (here: no installer's RECORD) is stamped file by
    file: its cached findings are not reused after an edit. (tests/test_plugin_install.py edits
    a helper module of an editable install.)"""
    import shutil

    from test_plugins import PLUGIN_PATH

    plugin = tmp_path_factory.mktemp("plugin")
    shutil.copytree(PLUGIN_PATH, plugin, dirs_exist_ok=True)
    env = _with_test_plugin(plugin, tmp_path_factory.mktemp("user-cache"))
    (project / "b.py").write_text('print("hi")\n')

    def messages() -> list[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "torchlint", "--select", "XPL001", "--output-format", "json"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 1, proc.stderr
        return [d["message"] for d in json.loads(proc.stdout)]

    assert messages() == ["`print` in library code; use logging"]
    module = plugin / "torchlint_example_plugin" / "__init__.py"
    module.write_text(module.read_text().replace("use logging", "use the logging module"))
    assert messages() == ["`print` in library code; use the logging module"]


def test_no_cache_writes_no_plugin_index(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """``--no-cache`` writes no cache of any kind: neither the results cache nor the plug-in index
    under the user cache folder (a run with the cache writes both)."""
    from test_plugins import PLUGIN_PATH

    user_cache = tmp_path_factory.mktemp("user-cache")
    env = _with_test_plugin(PLUGIN_PATH, user_cache)
    (project / "b.py").write_text('print("hi")\n')

    def lint(*options: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "torchlint", "--no-color", *options, "."],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
        )

    uncached = lint("--no-cache")
    assert uncached.returncode == 1 and "b.py:1:1: XPL001" in uncached.stdout, uncached.stderr
    assert not any(user_cache.rglob("*")) and not (project / ".torchlint_cache").exists()
    cached = lint()
    assert cached.stdout == uncached.stdout
    assert list((user_cache / "torchlint" / "plugins").glob("*.json"))
    assert (project / ".torchlint_cache").is_dir()
