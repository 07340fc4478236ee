"""The example plug-in (examples/plugin) really installed, as its author installs it: ``pip install
--no-deps -e`` into a virtual environment that also sees this one's packages (torchlint among
them). torchlint finds its rule through the entry point (importlib.metadata), lists, reports and
fixes it, answers warm runs without importing it, and notices an edit to its helper module."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "plugin"

# Run in the plug-in's environment; on exit, print which of LibCST and the plug-in it imported.
IMPORTS_SCRIPT = (
    "import atexit, runpy, sys\n"
    "atexit.register(lambda: print(sorted(m for m in sys.modules if m == 'libcst' or "
    "m.startswith('torchlint_example_rules')), file=sys.stderr))\n"
    "sys.argv = ['torchlint', '--no-color', *sys.argv[1:]]\n"
    "runpy.run_module('torchlint', run_name='__main__')\n"
)


@dataclass
class PluginEnv:
    python: Path
    plugin: Path  # the plug-in's working copy, installed editable
    env: dict[str, str]

    def run(self, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.python), *args],
            cwd=cwd,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=300,
        )

    def torchlint(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return self.run("-m", "torchlint", *args, cwd=cwd)

    def imports(self, *args: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], str]:
        proc = self.run("-c", IMPORTS_SCRIPT, *args, cwd=cwd)
        return proc, proc.stderr.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> PluginEnv:
    base = tmp_path_factory.mktemp("plugin-env")
    plugin = base / "plugin"
    shutil.copytree(
        EXAMPLE, plugin, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    )
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # The new environment sees this one's packages after its own (what --system-site-packages
    # gives, for an environment made from a virtual environment): addsitedir also runs their
    # .pth files, which is how torchlint's own editable install is found.
    venv_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    outer = [p for p in site.getsitepackages() if os.path.isdir(p)]
    (Path(venv_site) / "outer_environment.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in outer)
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TORCHLINT_IGNORE_PLUGINS", "PYTHONPATH", "PYTEST_ADDOPTS", "VIRTUAL_ENV")
    }
    env["XDG_CACHE_HOME"] = str(base / "user-cache")  # the plug-in index, fresh
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
         "--no-build-isolation", "--no-index", "-e", str(plugin)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    return PluginEnv(python, plugin, env)


CHECKPOINTS = (
    "import torch\n"
    "state = torch.load('model.pt', weights_only=True)\n"
    "scripted = torch.jit.load('model.ts')\n"
)


def _ex001_lines(proc: subprocess.CompletedProcess[str]) -> list[int]:
    assert proc.returncode in (0, 1), proc.stderr
    return [d["location"]["row"] for d in json.loads(proc.stdout) if d["code"] == "EX001"]


def test_plugin_rule_listed_reported_cached_invalidated_and_fixed(
    plugin_env: PluginEnv, tmp_path: Path
) -> None:
    listed = plugin_env.torchlint("rules", "--output-format", "json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    [rule] = [r for r in json.loads(listed.stdout) if r["code"] == "EX001"]
    assert rule["name"] == "load-without-map-location"

    (tmp_path / "pyproject.toml").write_text("[tool.torchlint]\n")
    (tmp_path / "train.py").write_text(CHECKPOINTS)
    assert _ex001_lines(plugin_env.torchlint("--output-format", "json", ".", cwd=tmp_path)) == [2]
    # The text format: the JSON one asks each reported rule's class for its documentation link.
    (tmp_path / "other.py").write_text(CHECKPOINTS)  # a miss: linted, so the plug-in is imported
    cold, cold_modules = plugin_env.imports(".", cwd=tmp_path)
    assert "train.py:2:9: EX001" in cold.stdout and "other.py:2:9: EX001" in cold.stdout
    assert "'libcst'" in cold_modules and "'torchlint_example_rules.rules'" in cold_modules
    warm, warm_modules = plugin_env.imports(".", cwd=tmp_path)
    assert warm.stdout == cold.stdout
    assert warm_modules == "[]", "a run answered from the cache imported the plug-in or LibCST"

    # The rule's own module is unchanged; its helper's table learns torch.jit.load.
    helper = plugin_env.plugin / "src" / "torchlint_example_rules" / "loading.py"
    text = helper.read_text()
    try:
        helper.write_text(
            text.replace('"torch.load": 1,', '"torch.load": 1,\n    "torch.jit.load": 1,')
        )
        assert helper.read_text() != text
        edited = plugin_env.torchlint("--output-format", "json", ".", cwd=tmp_path)
        assert _ex001_lines(edited) == [2, 3, 2, 3]

        fixed = plugin_env.torchlint(
            "--select", "EX001", "--fix", "--unsafe-fixes", ".", cwd=tmp_path
        )
        assert fixed.returncode == 0, fixed.stdout + fixed.stderr
        assert (tmp_path / "train.py").read_text() == CHECKPOINTS.replace(
            "weights_only=True)", 'weights_only=True, map_location="cpu")'
        ).replace("'model.ts')", "'model.ts', map_location=\"cpu\")")
    finally:
        helper.write_text(text)  # the other tests use the plug-in as shipped


def test_plugin_own_tests_pass_with_torchlint_testing(plugin_env: PluginEnv) -> None:
    proc = plugin_env.run("-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=plugin_env.plugin)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "passed" in proc.stdout


def test_torchlint_tests_hold_with_the_plugin_installed(plugin_env: PluginEnv) -> None:
    """The installed plug-in is visible to torchlint, but not to torchlint's own tests, whose
    conftest names the installed plug-ins in TORCHLINT_IGNORE_PLUGINS: the expectations about
    "every rule" still hold."""
    codes = "from torchlint.registry import all_rule_refs; print([r.code for r in all_rule_refs()])"
    assert "EX001" in plugin_env.run("-c", codes, cwd=ROOT).stdout
    hidden = plugin_env.run(
        "-c", codes, cwd=ROOT, TORCHLINT_IGNORE_PLUGINS="torchlint-example-rules"
    )
    assert "EX001" not in hidden.stdout and "TL001" in hidden.stdout
    suite = plugin_env.run(
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/test_fixture_cases.py::test_every_rule_has_fixture_cases",
        "tests/test_cache.py::test_rule_index_matches_the_rule_classes",
        "tests/test_readme.py::test_rule_table_matches_the_registry",
        "tests/test_rule_docs.py",
        cwd=ROOT,
    )
    assert suite.returncode == 0, suite.stdout + suite.stderr
