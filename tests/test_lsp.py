"""`torchlint lsp` end to end: a real server subprocess driven by pytest-lsp's client.

Each test starts `python -m torchlint lsp`, initializes it on a temporary workspace, and talks LSP
to it as an editor would. Edits that the server offers are applied here, by this file's own
UTF-16 arithmetic, to check that they produce the expected text.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

from torchlint.docs import documentation_url
from torchlint.lsp import FIX_ALL_KIND, merge_options, parse_options, torchlint_section
from torchlint.lsp_convert import LineIndex, minimal_edit, noqa_edit

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SERVER = [sys.executable, "-m", "torchlint", "lsp"]
TIMEOUT = 180.0  # seconds; generous: CI runs on a shared 2-core machine
TL201_ONLY = '[tool.torchlint]\nselect = ["TL201"]\n'

# A finding after a two-byte and an astral (surrogate pair in UTF-16) character; the load goes
# straight into `load_state_dict`, where TL201 offers its fix.
ASTRAL = 'import torch\n\nmodels["é😀"].load_state_dict(torch.load(path))\n'
ASTRAL_FIXED = (
    'import torch\n\nmodels["é😀"].load_state_dict(torch.load(path, weights_only=True))\n'
)


# -- a client that keeps every publishDiagnostics ---------------------------------------------------


class Client(LanguageClient):
    published: list[types.PublishDiagnosticsParams]
    configuration_requests: list[types.ConfigurationParams]


def make_client() -> Client:
    client = Client(converter_factory=default_converter)
    client.published = []
    client.configuration_requests = []

    def on_publish(ls: Client, params: types.PublishDiagnosticsParams) -> None:
        ls.diagnostics[params.uri] = params.diagnostics
        ls.published.append(params)

    def on_configuration(ls: Client, params: types.ConfigurationParams) -> list[Any]:
        ls.configuration_requests.append(params)
        return [
            ls.get_configuration(section=i.section, scope_uri=i.scope_uri) for i in params.items
        ]

    features = {
        **DEFAULT_CLIENT_FEATURES,
        types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS: on_publish,
        types.WORKSPACE_CONFIGURATION: on_configuration,
    }
    register_lsp_features(client, features)
    return client


@asynccontextmanager
async def session(
    root: Path,
    *,
    options: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    capabilities: str = "visual-studio-code",
) -> AsyncIterator[Client]:
    config = ClientServerConfig(
        server_command=SERVER,
        client_factory=make_client,
        server_env={**os.environ, **(env or {})},
    )
    client = await config.start()
    assert isinstance(client, Client)
    try:
        await asyncio.wait_for(
            client.initialize_session(
                types.InitializeParams(
                    capabilities=client_capabilities(capabilities),
                    root_uri=root.as_uri(),
                    workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="ws")],
                    initialization_options=options,
                )
            ),
            TIMEOUT,
        )
        yield client
        await asyncio.wait_for(client.shutdown_session(), TIMEOUT)
    except BaseException:
        # A failed test: end the server, or `stop()` (which waits for it to exit) never returns.
        server = client._server
        if server is not None and server.returncode is None:
            server.kill()
        raise
    finally:
        await client.stop()


async def until(condition: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = condition()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def diagnostics_for(
    client: Client, uri: str, version: int | None, *, after: int = 0
) -> list[types.Diagnostic]:
    """The diagnostics published for ``uri`` at ``version`` (after the ``after``-th publish)."""

    def find() -> list[types.Diagnostic] | None:
        for params in client.published[after:]:
            if params.uri == uri and params.version == version:
                return list(params.diagnostics)
        return None

    found = await until(lambda: find() is not None, f"diagnostics of {uri} v{version}")
    assert found
    result = find()
    assert result is not None
    return result


def open_doc(client: Client, path: Path, text: str, version: int = 1) -> str:
    path.write_text(text, encoding="utf-8")
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)
        )
    )
    return uri


def change_doc(client: Client, uri: str, version: int, text: str) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


def workspace(tmp_path: Path, config: str = TL201_ONLY) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "pyproject.toml").write_text(config, encoding="utf-8")
    return root


# -- applying LSP edits, independently of the server's own conversion code ------------------------


def _offset(text: str, position: types.Position) -> int:
    lines = re.split(r"(?<=\r\n)|(?<=\r)(?!\n)|(?<=\n)", text)
    offset = sum(len(line) for line in lines[: position.line])
    line = lines[position.line] if position.line < len(lines) else ""
    units = 0
    for index, char in enumerate(line.rstrip("\r\n")):
        if units >= position.character:
            return offset + index
        units += 2 if ord(char) > 0xFFFF else 1
    return offset + len(line.rstrip("\r\n"))


def apply_text_edits(text: str, edits: list[types.TextEdit]) -> str:
    spans = sorted(
        ((_offset(text, e.range.start), _offset(text, e.range.end), e.new_text) for e in edits),
        reverse=True,
    )
    for start, end, new in spans:
        text = text[:start] + new + text[end:]
    return text


def apply_workspace_edit(text: str, uri: str, edit: types.WorkspaceEdit | None) -> str:
    assert edit is not None
    edits: list[types.TextEdit] = []
    if edit.document_changes:
        for change in edit.document_changes:
            assert isinstance(change, types.TextDocumentEdit)
            assert change.text_document.uri == uri
            edits.extend(e for e in change.edits if isinstance(e, types.TextEdit))
    if edit.changes:
        edits.extend(edit.changes.get(uri, []))
    return apply_text_edits(text, edits)


async def code_actions(
    client: Client,
    uri: str,
    diagnostics: list[types.Diagnostic],
    only: list[str] | None = None,
) -> list[types.CodeAction]:
    rng = (
        diagnostics[0].range
        if diagnostics
        else types.Range(start=types.Position(0, 0), end=types.Position(0, 0))
    )
    result = await asyncio.wait_for(
        client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=rng,
                context=types.CodeActionContext(diagnostics=diagnostics, only=only),
            )
        ),
        TIMEOUT,
    )
    return [a for a in result or [] if isinstance(a, types.CodeAction)]


# -- diagnostics -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_open_publishes_diagnostics_with_utf16_ranges(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    async with session(root) as client:
        uri = open_doc(client, root / "train.py", ASTRAL)
        [diagnostic] = await diagnostics_for(client, uri, 1)
    assert diagnostic.code == "TL201"
    assert diagnostic.source == "torchlint"
    assert diagnostic.severity == types.DiagnosticSeverity.Error
    assert "weights_only" in diagnostic.message
    # `models["` is 8 units, é is 1, 😀 is 2 (a surrogate pair), `"].load_state_dict(` is 19.
    assert diagnostic.range == types.Range(
        start=types.Position(line=2, character=30), end=types.Position(line=2, character=46)
    )
    assert diagnostic.code_description is not None
    # The rule's page on the documentation site ([project.urls] Documentation), not a local path.
    assert diagnostic.code_description.href == f"{documentation_url()}rules/TL201.html"
    assert diagnostic.code_description.href.startswith("https://")
    assert diagnostic.data["fix"]["applicability"] == "unsafe"
    assert diagnostic.data["version"] == 1


@pytest.mark.asyncio
async def test_utf8_position_encoding_when_the_client_asks(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    config = ClientServerConfig(server_command=SERVER, client_factory=make_client)
    client = await config.start()
    assert isinstance(client, Client)
    try:
        capabilities = client_capabilities("visual-studio-code")
        capabilities.general = types.GeneralClientCapabilities(
            position_encodings=[types.PositionEncodingKind.Utf8]
        )
        result = await client.initialize_session(
            types.InitializeParams(capabilities=capabilities, root_uri=root.as_uri())
        )
        assert result.capabilities.position_encoding == types.PositionEncodingKind.Utf8
        uri = open_doc(client, root / "train.py", ASTRAL)
        [diagnostic] = await diagnostics_for(client, uri, 1)
        # é is 2 bytes and 😀 is 4 in UTF-8.
        assert diagnostic.range.start == types.Position(line=2, character=8 + 2 + 4 + 19)
        await client.shutdown_session()
    finally:
        await client.stop()


@pytest.mark.asyncio
async def test_edits_update_diagnostics_and_close_clears(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    async with session(root) as client:
        uri = open_doc(client, root / "train.py", "import torch\n")
        assert await diagnostics_for(client, uri, 1) == []

        change_doc(client, uri, 2, "import torch\n\nsd = torch.load('a.pt')\n")
        [first] = await diagnostics_for(client, uri, 2)
        assert (first.code, first.range.start.line) == ("TL201", 2)

        text = "import torch\n\n\nsd = torch.load('a.pt')\nsd2 = torch.load('b.pt')\n"
        change_doc(client, uri, 3, text)
        found = await diagnostics_for(client, uri, 3)
        assert [(d.code, d.range.start.line) for d in found] == [("TL201", 3), ("TL201", 4)]

        change_doc(client, uri, 4, "import torch\n\nsd = torch.load('a.pt', weights_only=True)\n")
        assert await diagnostics_for(client, uri, 4) == []

        seen = len(client.published)
        client.text_document_did_close(
            types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
        await until(
            lambda: any(p.uri == uri and not p.diagnostics for p in client.published[seen:]),
            "diagnostics cleared on close",
        )


@pytest.mark.asyncio
async def test_rapid_edits_publish_only_the_latest_version(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    async with session(root, options={"debounceMs": 1000}) as client:
        uri = open_doc(client, root / "train.py", "import torch\n")
        await diagnostics_for(client, uri, 1)
        for version in range(2, 8):
            lines = "".join(f"x{i} = torch.load('{i}.pt')\n" for i in range(version))
            change_doc(client, uri, version, "import torch\n" + lines)
        latest = await diagnostics_for(client, uri, 7)
        assert len(latest) == 7
        await asyncio.sleep(0.5)  # anything stale would have arrived by now
        versions = [p.version for p in client.published if p.uri == uri]
        assert versions == [1, 7]


@pytest.mark.asyncio
async def test_save_relints(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    async with session(root) as client:
        uri = open_doc(client, root / "train.py", ASTRAL)
        await diagnostics_for(client, uri, 1)
        seen = len(client.published)
        client.text_document_did_save(
            types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
        again = await diagnostics_for(client, uri, 1, after=seen)
        assert [d.code for d in again] == ["TL201"]


@pytest.mark.asyncio
async def test_non_python_and_excluded_documents_get_no_findings(tmp_path: Path) -> None:
    root = workspace(tmp_path, TL201_ONLY + 'extend-exclude = ["generated"]\n')
    async with session(root) as client:
        notes = root / "notes.md"
        notes.write_text("torch.load(x)\n", encoding="utf-8")
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                types.TextDocumentItem(
                    uri=notes.as_uri(), language_id="markdown", version=1, text="torch.load(x)\n"
                )
            )
        )
        (root / "generated").mkdir()
        excluded = open_doc(client, root / "generated" / "model.py", ASTRAL)
        assert await diagnostics_for(client, excluded, 1) == []
        uri = open_doc(client, root / "train.py", ASTRAL)
        assert len(await diagnostics_for(client, uri, 1)) == 1
        assert all(p.uri != notes.as_uri() for p in client.published)


# -- code actions ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_quick_fix_edit_yields_the_fixed_text(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    async with session(root) as client:
        uri = open_doc(client, root / "train.py", ASTRAL)
        diagnostics = await diagnostics_for(client, uri, 1)
        actions = await code_actions(client, uri, diagnostics)
        titles = [a.title for a in actions]
        assert "Add `weights_only=True` (unsafe)" in titles
        assert "Disable TL201 for this line" in titles
        fix = next(a for a in actions if a.title == "Add `weights_only=True` (unsafe)")
        assert fix.kind == types.CodeActionKind.QuickFix
        assert not fix.is_preferred  # unsafe fixes are never the preferred one
        fixed = apply_workspace_edit(ASTRAL, uri, fix.edit)
        assert fixed == ASTRAL_FIXED
        change_doc(client, uri, 2, fixed)
        assert await diagnostics_for(client, uri, 2) == []


@pytest.mark.asyncio
async def test_quick_fix_without_data_round_trip(tmp_path: Path) -> None:
    """A client that drops `data` from the diagnostics it sends back still gets the fix."""
    root = workspace(tmp_path)
    async with session(root, capabilities="neovim@v0.7.0") as client:
        uri = open_doc(client, root / "train.py", ASTRAL)
        diagnostics = await diagnostics_for(client, uri, 1)
        for d in diagnostics:
            d.data = None
        actions = await code_actions(client, uri, diagnostics)
        fix = next(a for a in actions if a.title.startswith("Add `weights_only=True`"))
        assert fix.edit is not None and fix.edit.changes  # no documentChanges support claimed
        assert apply_workspace_edit(ASTRAL, uri, fix.edit) == ASTRAL_FIXED


@pytest.mark.asyncio
async def test_actions_for_an_outdated_version_are_not_offered(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    async with session(root, options={"debounceMs": 5000}) as client:
        uri = open_doc(client, root / "train.py", ASTRAL)
        diagnostics = await diagnostics_for(client, uri, 1)
        change_doc(client, uri, 2, "import torch\n" + ASTRAL)  # lines move; not linted yet
        assert await code_actions(client, uri, diagnostics) == []


@pytest.mark.asyncio
async def test_suppress_action_adds_noqa(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    async with session(root) as client:
        uri = open_doc(client, root / "train.py", ASTRAL)
        diagnostics = await diagnostics_for(client, uri, 1)
        actions = await code_actions(client, uri, diagnostics, only=["quickfix"])
        silence = next(a for a in actions if a.title == "Disable TL201 for this line")
        silenced = apply_workspace_edit(ASTRAL, uri, silence.edit)
        assert silenced.splitlines()[2] == (
            'models["é😀"].load_state_dict(torch.load(path))  # noqa: TL201'
        )
        change_doc(client, uri, 2, silenced)
        assert await diagnostics_for(client, uri, 2) == []


@pytest.mark.asyncio
async def test_suppress_action_extends_an_existing_noqa(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    text = "import torch\nsd = torch.load(p)  # noqa: E501\n"
    async with session(root) as client:
        uri = open_doc(client, root / "train.py", text)
        diagnostics = await diagnostics_for(client, uri, 1)
        actions = await code_actions(client, uri, diagnostics)
        silence = next(a for a in actions if a.title == "Disable TL201 for this line")
        silenced = apply_workspace_edit(text, uri, silence.edit)
        assert silenced == "import torch\nsd = torch.load(p)  # noqa: E501, TL201\n"
        change_doc(client, uri, 2, silenced)
        assert await diagnostics_for(client, uri, 2) == []


@pytest.mark.asyncio
async def test_fix_all_applies_unsafe_fixes_only_when_enabled(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    text = (
        "import torch\n\nm.load_state_dict(torch.load('a.pt'))\n"
        "m.load_state_dict(torch.load('b.pt', map_location='cpu'))\n"
    )
    async with session(root) as client:
        uri = open_doc(client, root / "train.py", text)
        diagnostics = await diagnostics_for(client, uri, 1)
        assert len(diagnostics) == 2
        # TL201's fix is unsafe: with the default settings, fixAll has nothing to do.
        assert await code_actions(client, uri, [], only=["source.fixAll"]) == []

    async with session(root, options={"unsafeFixes": True}) as client:
        uri = open_doc(client, root / "train.py", text)
        await diagnostics_for(client, uri, 1)
        [action] = await code_actions(client, uri, [], only=["source.fixAll"])
        assert action.kind == FIX_ALL_KIND
        fixed = apply_workspace_edit(text, uri, action.edit)
        assert fixed == (
            "import torch\n\nm.load_state_dict(torch.load('a.pt', weights_only=True))\n"
            "m.load_state_dict(torch.load('b.pt', map_location='cpu', weights_only=True))\n"
        )
        # Quick fixes are not what was asked for.
        assert all(
            a.kind == FIX_ALL_KIND for a in await code_actions(client, uri, [], only=[FIX_ALL_KIND])
        )


# -- hover -----------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_hover_shows_the_rule_summary(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    async with session(root) as client:
        uri = open_doc(client, root / "train.py", ASTRAL)
        [diagnostic] = await diagnostics_for(client, uri, 1)

        async def hover(line: int, character: int) -> types.Hover | None:
            return await client.text_document_hover_async(
                types.HoverParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=types.Position(line=line, character=character),
                )
            )

        inside = await hover(2, 35)
        assert inside is not None
        assert isinstance(inside.contents, types.MarkupContent)
        assert "TL201" in inside.contents.value
        assert "`torch.load` called without `weights_only=`" in inside.contents.value
        assert inside.range == diagnostic.range
        assert await hover(0, 3) is None


# -- configuration ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_pyproject_change_is_picked_up(tmp_path: Path) -> None:
    root = workspace(tmp_path, '[tool.torchlint]\nselect = ["TL201"]\nignore = ["TL201"]\n')
    async with session(root) as client:
        uri = open_doc(client, root / "train.py", ASTRAL)
        assert await diagnostics_for(client, uri, 1) == []

        pyproject = root / "pyproject.toml"
        pyproject.write_text(TL201_ONLY, encoding="utf-8")
        seen = len(client.published)
        client.workspace_did_change_watched_files(
            types.DidChangeWatchedFilesParams(
                changes=[types.FileEvent(uri=pyproject.as_uri(), type=types.FileChangeType.Changed)]
            )
        )
        [diagnostic] = await diagnostics_for(client, uri, 1, after=seen)
        assert diagnostic.code == "TL201"

        # Saving the config file in the editor works too.
        pyproject.write_text('[tool.torchlint]\nignore = ["torch-load-without-weights-only"]\n')
        seen = len(client.published)
        client.text_document_did_save(
            types.DidSaveTextDocumentParams(
                text_document=types.TextDocumentIdentifier(uri=pyproject.as_uri())
            )
        )
        assert await diagnostics_for(client, uri, 1, after=seen) == []


@pytest.mark.asyncio
async def test_broken_pyproject_is_reported_and_defaults_used(tmp_path: Path) -> None:
    root = workspace(tmp_path, '[tool.torchlint]\nselekt = ["TL201"]\n')
    async with session(root, options={"select": ["TL201"]}) as client:
        uri = open_doc(client, root / "train.py", ASTRAL)
        [diagnostic] = await diagnostics_for(client, uri, 1)
        assert diagnostic.code == "TL201"
        await until(
            lambda: any("selekt" in m.message for m in client.messages), "a config error message"
        )


@pytest.mark.asyncio
async def test_settings_from_initialization_options_and_did_change_configuration(
    tmp_path: Path,
) -> None:
    root = workspace(tmp_path)
    async with session(root, options={"ignore": ["TL201"]}) as client:
        uri = open_doc(client, root / "train.py", ASTRAL)
        assert await diagnostics_for(client, uri, 1) == []

        seen = len(client.published)
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"torchlint": {"ignore": []}})
        )
        [diagnostic] = await diagnostics_for(client, uri, 1, after=seen)
        assert diagnostic.code == "TL201"

        # A bad selector is reported, and the server keeps its previous settings and serving.
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"torchlint": {"select": ["TL9999x"]}})
        )
        await until(
            lambda: any("TL9999x" in m.message for m in client.messages),
            "an invalid-settings message",
        )
        change_doc(client, uri, 2, ASTRAL + "x = 1\n")
        assert [d.code for d in await diagnostics_for(client, uri, 2)] == ["TL201"]


@pytest.mark.asyncio
async def test_settings_change_only_the_keys_they_name(tmp_path: Path) -> None:
    """Other servers' settings, a section naming one key, or an empty pulled section leave the
    initializationOptions alone (eglot sends every server's settings in one message)."""
    root = workspace(tmp_path)
    async with session(root, options={"ignore": ["TL201"], "unsafeFixes": True}) as client:
        uri = open_doc(client, root / "train.py", ASTRAL)
        assert await diagnostics_for(client, uri, 1) == []

        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(
                settings={"python": {"analysis": {"typeCheckingMode": "basic"}}, "pylsp": {}}
            )
        )
        change_doc(client, uri, 2, ASTRAL + "x = 2\n")
        assert await diagnostics_for(client, uri, 2) == []

        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"torchlint": {"debounceMs": 30}})
        )
        change_doc(client, uri, 3, ASTRAL + "x = 3\n")
        assert await diagnostics_for(client, uri, 3) == []

        # No settings in the notification: the server pulls its section; null or {} is no change.
        version = 3
        for pulled in (None, {}):
            client.set_configuration(pulled, section="torchlint")
            asked = len(client.configuration_requests)
            client.workspace_did_change_configuration(
                types.DidChangeConfigurationParams(settings=None)
            )
            await until(lambda n=asked: len(client.configuration_requests) > n, "a settings pull")
            version += 1
            change_doc(client, uri, version, ASTRAL + f"x = {version}\n")
            assert await diagnostics_for(client, uri, version) == []

        # A section that names `ignore` changes that key; `unsafeFixes` stays as it was set.
        seen = len(client.published)
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"torchlint": {"ignore": []}})
        )
        [diagnostic] = await diagnostics_for(client, uri, version, after=seen)
        assert diagnostic.code == "TL201"
        assert all(not p.diagnostics for p in client.published[:seen] if p.uri == uri)
        [fix_all] = await code_actions(client, uri, [], only=[FIX_ALL_KIND])
        assert fix_all.title.endswith("(unsafe fixes included)")


def test_parse_options() -> None:
    parsed = parse_options(
        {"select": "TL201, TL1", "ignore": ["TL101"], "unsafeFixes": True, "debounceMs": 20}
    )
    assert parsed.overrides.select == ("TL201", "TL1")
    assert parsed.overrides.ignore == ("TL101",)
    assert parsed.overrides.unsafe_fixes is True
    assert parsed.debounce_ms == 20
    assert parsed.log_timings is None
    assert parse_options({"torchlint": {"preview": True}}).overrides.preview is True
    assert parse_options(None) == parse_options({})
    bad_values: list[dict[str, Any]] = [
        {"select": ["nope-such-rule"]},
        {"unsafeFixes": "yes"},
        {"debounceMs": -1},
        {"debounceMs": True},
        {"logTimings": 1},
    ]
    for bad in bad_values:
        with pytest.raises(ValueError):
            parse_options(bad)


def test_torchlint_section_and_merge_options() -> None:
    assert torchlint_section({"torchlint": {"ignore": ["TL201"]}}) == {"ignore": ["TL201"]}
    assert torchlint_section({"settings": {"torchlint": {"preview": True}}}) == {"preview": True}
    assert torchlint_section({"unsafeFixes": True}) == {"unsafeFixes": True}  # Helix: flat
    assert torchlint_section({"python": {"ignore": ["E501"]}}) is None
    assert torchlint_section({"torchlint": None, "pylsp": {}}) is None
    assert torchlint_section(None) is None
    assert torchlint_section([]) is None
    base = {"ignore": ["TL201"], "unsafeFixes": True}
    assert merge_options(base, {"debounce-ms": 30, "other": 1}) == {**base, "debounceMs": 30}
    assert merge_options(base, {"unsafe_fixes": None}) == {"ignore": ["TL201"]}
    assert base == {"ignore": ["TL201"], "unsafeFixes": True}  # not modified


# -- a crashing rule does not take the server down -------------------------------------------------

PLUGIN = '''
import os

import libcst as cst

from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, Replace
from torchlint.rule import Rule


class CrashingRule(Rule):
    """Raises on every call it sees, in files that mention crash_here."""

    code = "TL901"
    name = "test-crashing-rule"
    summary = "Crashes"
    category = Category.CORRECTNESS
    severity = Severity.ERROR
    precision = Precision.HIGH
    needles = ("crash_here",)

    def visit_Call(self, node: cst.Call) -> None:
        raise RuntimeError("boom from the test plug-in")


class BrokenConstructorRule(Rule):
    """Cannot even be set up, in files that mention explode_here."""

    code = "TL902"
    name = "test-broken-constructor"
    summary = "Breaks"
    category = Category.CORRECTNESS
    severity = Severity.ERROR
    precision = Precision.HIGH
    needles = ("explode_here",)

    def __init__(self, context, reports):
        raise RuntimeError("constructor failure from the test plug-in")


class SafeRenameRule(Rule):
    """Reports `old_api()` calls; the safe fix renames them to `new_api()`."""

    code = "TL903"
    name = "test-old-api"
    summary = "Calls to `old_api`"
    category = Category.DEPRECATED_API
    severity = Severity.WARNING
    precision = Precision.HIGH
    fix_applicability = Applicability.SAFE
    needles = ("old_api",)

    def visit_Module(self, node: cst.Module) -> None:
        # Every lint that runs this rule adds a line to $TORCHLINT_TEST_RUNS (when it is set).
        runs = os.environ.get("TORCHLINT_TEST_RUNS")
        if runs:
            with open(runs, "a", encoding="utf-8") as out:
                out.write("lint\\n")

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and node.func.value == "old_api":
            fix = FixPlan("Use `new_api`", Applicability.SAFE,
                          (Replace(node.func, "new_api"),))
            self.report(node, "`old_api` is deprecated", fix=fix)
'''


@pytest.fixture
def plugin_env(tmp_path: Path) -> dict[str, str]:
    """A real rule plug-in: a module and a dist-info with a `torchlint.rules` entry point."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "torchlint_test_plugin.py").write_text(PLUGIN, encoding="utf-8")
    info = site / "torchlint_test_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: torchlint-test-plugin\nVersion: 0.1\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[torchlint.rules]\ntest = torchlint_test_plugin\n", encoding="utf-8"
    )
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path}


@pytest.mark.asyncio
async def test_a_crashing_rule_is_logged_and_the_server_keeps_serving(
    tmp_path: Path, plugin_env: dict[str, str]
) -> None:
    root = workspace(tmp_path, '[tool.torchlint]\nselect = ["TL201", "TL901", "TL902"]\n')
    async with session(root, env=plugin_env) as client:
        # The crashing rule dies on this document; TL201's finding is still published.
        uri = open_doc(client, root / "a.py", "import torch\ncrash_here = torch.load(p)\n")
        [diagnostic] = await diagnostics_for(client, uri, 1)
        assert diagnostic.code == "TL201"
        await until(
            lambda: any(
                m.type == types.MessageType.Error
                and "TL901" in m.message
                and "boom from the test plug-in" in m.message
                for m in client.log_messages
            ),
            "the rule crash in window/logMessage",
        )

        # A rule that cannot be constructed breaks the whole lint of this document: logged, and
        # an empty list is published for the version (nothing stale stays on screen).
        other = open_doc(client, root / "b.py", "import torch\nexplode_here = torch.load(p)\n")
        assert await diagnostics_for(client, other, 1) == []
        await until(
            lambda: any(
                m.type == types.MessageType.Error
                and "constructor failure" in m.message
                and other in m.message
                for m in client.log_messages
            ),
            "the lint failure in window/logMessage",
        )

        # The server is alive: edits, code actions and hovers still work.
        change_doc(client, uri, 2, "import torch\nx = torch.load(p)\ny = torch.load(q)\n")
        assert [d.code for d in await diagnostics_for(client, uri, 2)] == ["TL201", "TL201"]
        hover = await client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=1, character=6),
            )
        )
        assert hover is not None


@pytest.mark.asyncio
async def test_a_failed_lint_clears_the_previous_versions_findings(
    tmp_path: Path, plugin_env: dict[str, str]
) -> None:
    root = workspace(tmp_path, '[tool.torchlint]\nselect = ["TL201", "TL902"]\n')
    clean = "import torch\nsd = torch.load(p)\n"
    async with session(root, env=plugin_env) as client:
        uri = open_doc(client, root / "b.py", clean)
        [old] = await diagnostics_for(client, uri, 1)
        assert old.code == "TL201"
        # TL902 cannot be constructed once the text mentions explode_here: the lint fails.
        change_doc(client, uri, 2, "import torch\nexplode_here = 1\nsd = torch.load(p)\n")
        assert await diagnostics_for(client, uri, 2) == []
        change_doc(client, uri, 3, "import torch\nexplode_here = 2\nsd = torch.load(p)\n")
        assert await diagnostics_for(client, uri, 3) == []
        assert await code_actions(client, uri, [old]) == []  # nothing from version 1 is offered
        change_doc(client, uri, 4, clean)
        assert [d.code for d in await diagnostics_for(client, uri, 4)] == ["TL201"]
        failures = [m for m in client.log_messages if "constructor failure" in m.message]
        assert len(failures) == 1  # logged once while the same error repeats
        assert failures[0].type == types.MessageType.Error
        assert uri in failures[0].message


@pytest.mark.asyncio
async def test_fix_all_applies_safe_fixes_and_leaves_unsafe_ones(
    tmp_path: Path, plugin_env: dict[str, str]
) -> None:
    root = workspace(tmp_path, '[tool.torchlint]\nselect = ["TL201", "TL903"]\n')
    text = "import torch\n\nold_api()\nsd = torch.load(p)\nold_api(1)\n"
    async with session(root, env=plugin_env) as client:
        uri = open_doc(client, root / "train.py", text)
        diagnostics = await diagnostics_for(client, uri, 1)
        assert sorted(d.code for d in diagnostics) == ["TL201", "TL903", "TL903"]
        actions = await code_actions(client, uri, diagnostics)  # no `only`: everything
        kinds = {a.kind for a in actions}
        assert kinds == {types.CodeActionKind.QuickFix, FIX_ALL_KIND}
        safe = next(a for a in actions if a.title == "Use `new_api`")
        assert safe.is_preferred
        fix_all = next(a for a in actions if a.kind == FIX_ALL_KIND)
        fixed = apply_workspace_edit(text, uri, fix_all.edit)
        assert fixed == "import torch\n\nnew_api()\nsd = torch.load(p)\nnew_api(1)\n"


@pytest.mark.asyncio
async def test_fix_all_is_computed_once_per_version(
    tmp_path: Path, plugin_env: dict[str, str]
) -> None:
    """VS Code asks for code actions (no `only`) on every cursor move: the fix loop is not rerun."""
    runs = tmp_path / "runs.txt"

    def lints() -> int:  # lints that ran TL903, the server's and the fix loop's
        return len(runs.read_text(encoding="utf-8").splitlines()) if runs.exists() else 0

    root = workspace(tmp_path, '[tool.torchlint]\nselect = ["TL903"]\n')
    text = "old_api()\nold_api(1)\n"
    async with session(root, env={**plugin_env, "TORCHLINT_TEST_RUNS": str(runs)}) as client:
        uri = open_doc(client, root / "train.py", text)
        diagnostics = await diagnostics_for(client, uri, 1)
        assert lints() == 1
        [fix_all] = [
            a for a in await code_actions(client, uri, diagnostics) if a.kind == FIX_ALL_KIND
        ]
        assert apply_workspace_edit(text, uri, fix_all.edit) == "new_api()\nnew_api(1)\n"
        computed = lints()
        assert computed > 1
        for only in (None, None, [FIX_ALL_KIND], ["source.fixAll"], ["source"], None, ["quickfix"]):
            actions = await code_actions(client, uri, diagnostics[:1], only=only)
            expected = [] if only == ["quickfix"] else [fix_all]
            assert [a for a in actions if a.kind == FIX_ALL_KIND] == expected
        assert lints() == computed

        # A new version: computed once more, then reused.
        change_doc(client, uri, 2, "old_api()\n")
        diagnostics = await diagnostics_for(client, uri, 2)
        before = lints()
        for attempt in range(3):
            [fix_all] = [
                a for a in await code_actions(client, uri, diagnostics) if a.kind == FIX_ALL_KIND
            ]
            assert apply_workspace_edit("old_api()\n", uri, fix_all.edit) == "new_api()\n"
            if attempt == 0:
                computed = lints()
                assert computed > before
        assert lints() == computed

        # Nothing fixable published: fix all is not computed, asked for or not.
        change_doc(client, uri, 3, "callback = old_api\n")
        assert await diagnostics_for(client, uri, 3) == []
        before = lints()
        assert await code_actions(client, uri, []) == []
        assert await code_actions(client, uri, [], only=[FIX_ALL_KIND]) == []
        assert lints() == before


@pytest.mark.asyncio
async def test_fix_all_on_save_right_after_typing(
    tmp_path: Path, plugin_env: dict[str, str]
) -> None:
    """`editor.codeActionsOnSave` asks before the newest version is linted: it is linted now."""
    root = workspace(tmp_path, '[tool.torchlint]\nselect = ["TL903"]\n')
    async with session(root, env=plugin_env, options={"debounceMs": 60_000}) as client:
        uri = open_doc(client, root / "train.py", "import torch\n")
        assert await diagnostics_for(client, uri, 1) == []
        text = "import torch\nold_api()\n"
        change_doc(client, uri, 2, text)  # not linted for a minute
        [action] = await code_actions(client, uri, [], only=[FIX_ALL_KIND])
        assert action.kind == FIX_ALL_KIND
        assert action.edit is not None and action.edit.document_changes
        [change] = action.edit.document_changes
        assert isinstance(change, types.TextDocumentEdit)
        assert change.text_document.version == 2
        assert apply_workspace_edit(text, uri, action.edit) == "import torch\nnew_api()\n"
        # The lint it ran is published as version 2's diagnostics.
        assert [d.code for d in await diagnostics_for(client, uri, 2)] == ["TL903"]


# -- the pure conversions --------------------------------------------------------------------------


def test_line_index_conversions() -> None:
    from torchlint.diagnostics import Position

    text = "a\r\nb😀c\rd\x0ce\n"
    utf16 = LineIndex(text)
    assert utf16.line_text(1) == "b😀c"
    assert utf16.lsp_position(Position(2, 2)) == types.Position(line=1, character=3)
    assert utf16.lsp_position(Position(3, 3)) == types.Position(line=2, character=3)  # \x0c
    assert utf16.lsp_position(Position(9, 0)) == utf16.end()
    assert utf16.char_column(types.Position(line=1, character=3)) == 2
    assert LineIndex(text, "utf-8").lsp_position(Position(2, 2)) == types.Position(1, 5)
    assert LineIndex(text, "utf-32").lsp_position(Position(2, 2)) == types.Position(1, 2)


@pytest.mark.parametrize(
    ("source", "line", "expected"),
    [
        ("x = f()\n", 0, "x = f()  # noqa: TL201\n"),
        ("x = f()   \n", 0, "x = f()  # noqa: TL201\n"),
        ("x = f()  # why\n", 0, "x = f()  # why  # noqa: TL201\n"),
        ("x = f()  # noqa:E501\n", 0, "x = f()  # noqa:E501, TL201\n"),
        ("x = f(  # noqa: A1,B2\n)\n", 0, "x = f(  # noqa: A1,B2, TL201\n)\n"),
        ("x = f('''\n''')\n", 0, None),  # the line ends inside a string
        ("x = f() + \\\n  g()\n", 0, None),  # a backslash continuation
        ("x = f()  # noqa\n", 0, None),  # already silenced
        ("x = f()  # noqa: TL201\n", 0, None),
    ],
)
def test_noqa_edit(source: str, line: int, expected: str | None) -> None:
    edit = noqa_edit(LineIndex(source), line, "TL201")
    if expected is None:
        assert edit is None
    else:
        assert edit is not None
        assert apply_text_edits(source, [edit]) == expected


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("a\nb\nc\n", "a\nB\nc\n"),
        ("a\nb\nc", "a\nb\nc\nd\n"),
        ("a\r\nb\r\n", "x\r\na\r\nb\r\n"),
        ("😀 = 1\nz\n", "😀 = 2\nz\n"),
        ("", "x\n"),
    ],
)
def test_minimal_edit(old: str, new: str) -> None:
    edit = minimal_edit(old, new, "utf-16")
    assert edit is not None
    assert apply_text_edits(old, [edit]) == new
    assert minimal_edit(new, new, "utf-16") is None


def test_cli_explains_a_missing_lsp_extra() -> None:
    import subprocess

    code = "import sys; sys.modules['pygls'] = None; from torchlint.cli import main; main(['lsp'])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "pip install 'torchlint[lsp]'" in done.stderr
