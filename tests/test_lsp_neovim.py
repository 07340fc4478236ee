"""A real editor as the client: headless Neovim with its built-in LSP client on `torchlint lsp`.

Neovim opens a fixture whose finding follows a two-byte and an astral character, attaches its LSP
client to `python -m torchlint lsp`, waits for the diagnostics, asks for code actions, applies the
`weights_only=True` quick fix with its own edit machinery, waits for the diagnostics to clear, and
writes everything it saw as JSON for this test to read.

Needs the `nvim` binary (Debian package `neovim`). Without it the test is skipped with that
reason; `.ci/run` installs Neovim and sets TORCHLINT_REQUIRE_TOOLS=1, so there it always runs. Works
with Neovim 0.7 (Debian 12: `vim.lsp.start_client` + `buf_attach_client`) and newer
(`vim.lsp.start`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from external_tools import require_executable

INIT_LUA = r"""
local python = os.getenv("TORCHLINT_PYTHON")
local target = os.getenv("TORCHLINT_TARGET")
local root = os.getenv("TORCHLINT_ROOT")
local out = os.getenv("TORCHLINT_OUT")
local result = { version = vim.version(), steps = {} }

local function finish()
  local handle = assert(io.open(out, "w"))
  handle:write(vim.fn.json_encode(result))
  handle:close()
  vim.cmd("qall!")
end

local function step(name) table.insert(result.steps, name) end

local function collect(buf)
  local items = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    table.insert(items, {
      lnum = d.lnum, col = d.col, end_lnum = d.end_lnum, end_col = d.end_col,
      code = d.code, source = d.source, severity = d.severity, message = d.message,
    })
  end
  return items
end

local ok, err = pcall(function()
  vim.cmd("edit " .. vim.fn.fnameescape(target))
  local buf = vim.api.nvim_get_current_buf()
  local config = {
    name = "torchlint",
    cmd = { python, "-m", "torchlint", "lsp" },
    root_dir = root,
  }
  local client_id
  if vim.lsp.start then
    client_id = vim.lsp.start(config)
  else
    client_id = vim.lsp.start_client(config)
    vim.lsp.buf_attach_client(buf, client_id)
  end
  result.client_started = client_id ~= nil
  step("attached")

  result.got_diagnostics = vim.wait(180000, function()
    return #vim.diagnostic.get(buf) > 0
  end, 50)
  result.diagnostics = collect(buf)
  step("diagnostics")
  if not result.got_diagnostics then return end

  local first = vim.diagnostic.get(buf)[1]
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    range = {
      start = { line = first.lnum, character = 0 },
      ["end"] = { line = first.lnum, character = 0 },
    },
    context = { diagnostics = vim.lsp.diagnostic.get_line_diagnostics(buf, first.lnum) },
  }
  local responses = vim.lsp.buf_request_sync(buf, "textDocument/codeAction", params, 180000) or {}
  result.actions = {}
  local chosen
  for _, response in pairs(responses) do
    for _, action in ipairs(response.result or {}) do
      table.insert(result.actions, action.title)
      if action.title:find("weights_only", 1, true) then chosen = action end
    end
  end
  step("actions")
  if chosen == nil then return end

  vim.lsp.util.apply_workspace_edit(chosen.edit, "utf-16")
  result.fixed_text = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, true), "\n") .. "\n"
  result.cleared = vim.wait(180000, function()
    return #vim.diagnostic.get(buf) == 0
  end, 50)
  result.diagnostics_after_fix = collect(buf)
  step("fixed")
end)
result.ok = ok
if not ok then result.error = tostring(err) end
finish()
"""

# The load goes straight into `load_state_dict`, where TL201 offers its fix.
FIXTURE = 'import torch\n\n\nmodels["é😀"].load_state_dict(torch.load(path))\n'
FIXED = 'import torch\n\n\nmodels["é😀"].load_state_dict(torch.load(path, weights_only=True))\n'


def test_neovim_shows_torchlint_diagnostics_and_applies_the_fix(tmp_path: Path) -> None:
    nvim = require_executable("nvim", "Debian: `apt-get install -y neovim`")
    root = tmp_path / "project"
    root.mkdir()
    (root / "pyproject.toml").write_text('[tool.torchlint]\nselect = ["TL201"]\n', encoding="utf-8")
    target = root / "train.py"
    target.write_text(FIXTURE, encoding="utf-8")
    init = tmp_path / "init.lua"
    init.write_text(INIT_LUA, encoding="utf-8")
    out = tmp_path / "result.json"
    env = {
        **os.environ,
        "TORCHLINT_PYTHON": sys.executable,
        "TORCHLINT_TARGET": str(target),
        "TORCHLINT_ROOT": str(root),
        "TORCHLINT_OUT": str(out),
        "XDG_STATE_HOME": str(tmp_path / "state"),  # Neovim's LSP log goes here, not in $HOME
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    done = subprocess.run(
        [nvim, "--headless", "--clean", "-u", str(init)],
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.exists(), f"Neovim wrote no result (exit {done.returncode}):\n{done.stderr}"
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["ok"], result.get("error")
    assert result["client_started"], result
    assert result["got_diagnostics"], result

    [diagnostic] = result["diagnostics"]
    assert diagnostic["code"] == "TL201"
    assert diagnostic["source"] == "torchlint"
    assert diagnostic["severity"] == 1  # vim.diagnostic.severity.ERROR
    # Neovim converts LSP's UTF-16 columns to byte columns: `models["` 8, é 2, 😀 4,
    # `"].load_state_dict(` 19.
    assert (diagnostic["lnum"], diagnostic["col"]) == (3, 33)
    assert (diagnostic["end_lnum"], diagnostic["end_col"]) == (3, 33 + len("torch.load(path)"))

    assert "Add `weights_only=True` (unsafe)" in result["actions"]
    assert "Disable TL201 for this line" in result["actions"]
    assert result["fixed_text"] == FIXED
    assert result["cleared"], result
    assert result["diagnostics_after_fix"] == []
