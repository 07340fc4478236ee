"""The CI output formats (sarif, github, json-lines, junit, gitlab), read back as a consumer would."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote, urlparse

import jsonschema
import pytest
from click.testing import CliRunner

from torchlint.cli import main

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = Path(__file__).resolve().parent / "data" / "sarif-schema-2.1.0.json"
DEMO = ROOT / "fixtures" / "demo"

# Both loads go into `load_state_dict`, the case where TL201 offers its (unsafe) fix.
BAD = """\
import torch

state = torch.load("checkpoint.pt")
other = torch.load(
    "other.pt"
)
model.load_state_dict(state)
ema.load_state_dict(other)
"""


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def sarif_of(*args: str) -> dict:
    code, out = cli("--output-format", "sarif", *args)
    assert code in (0, 1), out
    return json.loads(out)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository (``.git`` marks its root) with bad files in awkwardly named places; the
    current directory is the repository root."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "src" / "sub dir").mkdir(parents=True)
    (tmp_path / "src" / "train.py").write_text(BAD, encoding="utf-8")
    (tmp_path / "src" / "sub dir" / "we,ird:name.py").write_text(
        'import torch as th\n\nmodel.load_state_dict(th.load("m.pt"))\n', encoding="utf-8"
    )
    (tmp_path / "src" / "broken.py").write_text("def f(:\n    pass\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- SARIF -------------------------------------------------------------------------------------


def _validate(log: dict) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft4Validator(
        schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


def _check_github_rules(log: dict) -> None:
    """What GitHub code scanning requires or relies on, beyond the schema."""
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "torchlint" and driver["version"]
    rules = driver["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids))
    for rule in rules:
        assert rule["name"]
        assert 0 < len(rule["shortDescription"]["text"]) <= 1024
        assert 0 < len(rule["fullDescription"]["text"]) <= 1024
        assert rule["help"]["text"] and rule["help"]["markdown"]
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
        props = rule["properties"]
        assert props["tags"] and props["precision"] in ("very-high", "high", "medium", "low")
        if "security" in props["tags"]:
            assert 0.0 < float(props["security-severity"]) <= 10.0
    bases = run["originalUriBaseIds"]
    assert bases["%SRCROOT%"]["uri"].startswith("file:///")
    assert bases["%SRCROOT%"]["uri"].endswith("/")
    assert run["results"], "expected at least one finding"
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note")
        assert result["message"]["text"]
        (location,) = result["locations"]
        artifact = location["physicalLocation"]["artifactLocation"]
        assert artifact["uriBaseId"] == "%SRCROOT%"
        uri = artifact["uri"]
        assert not urlparse(uri).scheme and not uri.startswith("/") and "\\" not in uri
        region = location["physicalLocation"]["region"]
        assert 1 <= region["startLine"] <= region["endLine"]
        assert region["startColumn"] >= 1 and region["endColumn"] >= 1
        line_hash = result["partialFingerprints"]["primaryLocationLineHash"]
        assert re.fullmatch(r"[0-9a-f]{16}:\d+", line_hash)
        for fix in result.get("fixes", []):
            assert fix["description"]["text"]
            for change in fix["artifactChanges"]:
                assert change["artifactLocation"] == artifact
                assert change["replacements"]


def test_sarif_of_demo_project_validates_and_follows_github_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if DEMO.is_dir():
        monkeypatch.chdir(ROOT)
        log = sarif_of("fixtures/demo")
        if not log["runs"][0]["results"]:
            log = None
    else:
        log = None
    if log is None:  # no demo yet (or a clean one): a bad file of our own
        (tmp_path / "bad.py").write_text(BAD, encoding="utf-8")
        monkeypatch.chdir(tmp_path)
        log = sarif_of("bad.py")
    _validate(log)
    _check_github_rules(log)


def test_sarif_uris_are_relative_to_the_repository_root(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project / "src")  # run from a subdirectory: URIs still start at the root
    log = sarif_of("--select", "TL201", ".")
    _validate(log)
    _check_github_rules(log)
    run = log["runs"][0]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == project.as_uri() + "/"
    uris = {
        unquote(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
        for r in run["results"]
    }
    assert uris == {"src/train.py", "src/sub dir/we,ird:name.py", "src/broken.py"}
    by_rule = {r["ruleId"] for r in run["results"]}
    assert by_rule == {"TL201", "TL000"}  # the syntax error is a result of its own rule
    load = next(r for r in run["results"] if r["ruleId"] == "TL201")
    assert load["level"] == "error"
    rule = run["tool"]["driver"]["rules"][load["ruleIndex"]]
    assert rule["properties"]["security-severity"] == "8.0"
    # The fix travels as a SARIF fix: replace the call's region with the fixed call.
    (replacement,) = load["fixes"][0]["artifactChanges"][0]["replacements"]
    assert "weights_only=True" in replacement["insertedContent"]["text"]


def test_sarif_rules_carry_the_rule_docs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bad.py").write_text(BAD, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    log = sarif_of("bad.py")
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    code, out = cli("rules", "--output-format", "json")
    listed = json.loads(out)
    assert {r["code"] for r in listed} <= set(rules)
    for record in listed:
        rule = rules[record["code"]]
        assert rule["name"] == record["name"]
        assert rule["shortDescription"]["text"] == record["summary"]
        assert record["category"] in rule["properties"]["tags"]
        _, doc = cli("rule", record["code"])
        assert rule["help"]["markdown"].rstrip("\n") == doc.rstrip("\n")
    what = rules["TL201"]["fullDescription"]["text"]
    assert what.startswith("Reports calls to `torch.load`")
    assert "## " not in what and len(what) <= 1024


def test_sarif_description_truncated_at_a_word_boundary() -> None:
    from torchlint.report.sarif import truncate

    text = "word " * 400
    cut = truncate(text)
    assert len(cut) <= 1024 and cut.endswith("word\u2026")
    assert truncate("short text") == "short text"


def _hashes(log: dict) -> list[tuple[int, str]]:
    return sorted(
        (
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
            r["partialFingerprints"]["primaryLocationLineHash"],
        )
        for r in log["runs"][0]["results"]
    )


def test_sarif_fingerprints_survive_unrelated_line_moves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "train.py"
    path.write_text(
        'import torch\n\na = torch.load("a.pt")\nb = torch.load("b.pt")\nb = torch.load("b.pt")\n',
        encoding="utf-8",
    )
    before = _hashes(sarif_of("--select", "TL201", "train.py"))
    assert [line for line, _ in before] == [3, 4, 5]
    # identical lines are told apart by their occurrence counter
    assert before[1][1].split(":")[0] == before[2][1].split(":")[0]
    assert len({h for _, h in before}) == 3

    path.write_text(
        '"""Docs."""\nimport os\nimport torch\n\n# a comment\nX = os.sep\n\n'
        'a = torch.load("a.pt")\n\n\nb = torch.load("b.pt")\n    \nb = torch.load("b.pt")\n',
        encoding="utf-8",
    )
    after = _hashes(sarif_of("--select", "TL201", "train.py"))
    assert [line for line, _ in after] == [8, 11, 13]
    assert [h for _, h in after] == [h for _, h in before]

    path.write_text('import torch\n\na = torch.load("c.pt")\n', encoding="utf-8")
    changed = _hashes(sarif_of("--select", "TL201", "train.py"))
    assert changed[0][1] != before[0][1]  # the finding's own line changed: a new alert


# -- the same findings in every format ---------------------------------------------------------


Key = tuple[str, str, int, int, int, int]  # path, code, line, column, end line, end column


def _from_json(out: str, root: Path) -> tuple[set[Key], dict[Key, dict]]:
    keys: dict[Key, dict] = {}
    for item in json.loads(out):
        path = Path(item["filename"]).relative_to(root).as_posix()
        key = (
            path,
            item["code"],
            item["location"]["row"],
            item["location"]["column"],
            item["end_location"]["row"],
            item["end_location"]["column"],
        )
        keys[key] = item
    return set(keys), keys


_GITHUB = re.compile(r"^::(?P<kind>error|warning|notice) (?P<props>[^:]*)::(?P<message>.*)$")


def _unescape(text: str) -> str:
    for escaped, raw in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        text = text.replace(escaped, raw)
    return text


def _from_github(out: str) -> dict[Key, tuple[str, str]]:
    found = {}
    for line in out.splitlines():
        match = _GITHUB.match(line)
        assert match, f"not a workflow command: {line!r}"
        props = dict(part.split("=", 1) for part in match["props"].split(","))
        props = {k: _unescape(v) for k, v in props.items()}
        key = (
            props["file"],
            props["title"],
            int(props["line"]),
            int(props["col"]),
            int(props["endLine"]),
            int(props["endColumn"]),
        )
        found[key] = (match["kind"], _unescape(match["message"]))
    return found


def test_all_formats_describe_the_same_findings(project: Path) -> None:
    code, out = cli("--output-format", "json", "--select", "TL201", "src")
    assert code == 1
    expected, items = _from_json(out, project)
    assert {k[0] for k in expected} == {
        "src/train.py",
        "src/sub dir/we,ird:name.py",
        "src/broken.py",
    }
    assert len(expected) == 4
    messages = {k: v["message"] for k, v in items.items()}

    # GitHub workflow commands
    code, out = cli("--output-format", "github", "--select", "TL201", "src")
    assert code == 1
    github = _from_github(out)
    assert set(github) == expected
    kinds = {"error": "error", "warning": "warning", "info": "notice"}
    for key, (kind, message) in github.items():
        assert kind == kinds[items[key]["severity"]]
        assert message == messages[key]
    assert "file=src/sub dir/we%2Cird%3Aname.py," in out

    # JSON lines: the JSON objects, one per line
    code, out = cli("--output-format", "json-lines", "--select", "TL201", "src")
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == len(expected)
    assert _from_json("[" + ",".join(lines) + "]", project)[0] == expected

    # JUnit XML
    code, out = cli("--output-format", "junit", "--select", "TL201", "src")
    assert code == 1
    tree = ET.fromstring(out.encode("utf-8"))
    assert tree.tag == "testsuites" and int(tree.get("failures")) == len(expected)
    junit = set()
    for suite in tree.iter("testsuite"):
        cases = suite.findall("testcase")
        assert int(suite.get("tests")) == len(cases)
        for case in cases:
            failure = case.find("failure")
            assert failure is not None
            path, line = case.get("file"), int(case.get("line"))
            assert suite.get("name") == path
            junit.add((path, failure.get("type"), line, failure.get("message")))
    assert junit == {(k[0], k[1], k[2], messages[k]) for k in expected}

    # GitLab Code Quality
    code, out = cli("--output-format", "gitlab", "--select", "TL201", "src")
    assert code == 1
    issues = json.loads(out)
    gitlab = set()
    for issue in issues:
        assert set(issue) >= {"description", "check_name", "fingerprint", "severity", "location"}
        assert issue["severity"] in ("info", "minor", "major", "critical", "blocker")
        lines_ = issue["location"]["lines"]
        gitlab.add((issue["location"]["path"], issue["check_name"], lines_["begin"], lines_["end"]))
        assert issue["check_name"] in issue["description"]
    assert len({i["fingerprint"] for i in issues}) == len(issues)
    assert gitlab == {(k[0], k[1], k[2], k[4]) for k in expected}
    multi_line = next(i for i in issues if i["location"]["lines"]["begin"] == 4)
    assert multi_line["location"]["lines"]["end"] == 6

    # SARIF
    log = sarif_of("--select", "TL201", "src")
    sarif = set()
    for result in log["runs"][0]["results"]:
        location = result["locations"][0]["physicalLocation"]
        region = location["region"]
        sarif.add(
            (
                unquote(location["artifactLocation"]["uri"]),
                result["ruleId"],
                region["startLine"],
                region["startColumn"],
                region["endLine"],
                region["endColumn"],
            )
        )
    assert sarif == expected


def test_clean_run_in_every_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ok.py").write_text(
        'import torch\n\nstate = torch.load("c.pt", weights_only=True)\n', encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    for fmt, check in (
        ("github", lambda out: out == ""),
        ("json-lines", lambda out: out == ""),
        ("gitlab", lambda out: json.loads(out) == []),
        ("sarif", lambda out: json.loads(out)["runs"][0]["results"] == []),
        ("junit", lambda out: ET.fromstring(out.encode()).get("failures") == "0"),
    ):
        code, out = cli("--output-format", fmt, "--select", "TL201", "ok.py")
        assert code == 0, (fmt, out)
        assert check(out), (fmt, out)


def test_github_escapes_workflow_command_values() -> None:
    from torchlint.report.github import command

    line = command("warning", "100% sure\r\nreally", file="a,b:c%.py", line=3, title="T:1")
    assert line == "::warning file=a%2Cb%3Ac%25.py,line=3,title=T%3A1::100%25 sure%0D%0Areally"


def test_sarif_written_with_output_file_from_a_subprocess(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(BAD, encoding="utf-8")
    out = tmp_path / "reports" / "torchlint.sarif"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torchlint",
            "--output-format",
            "sarif",
            "-o",
            str(out),
            "--select",
            "TL201",
            "bad.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    log = json.loads(out.read_text(encoding="utf-8"))
    _validate(log)
    _check_github_rules(log)


ITEM_IN_LOOP = """\
import torch

total = 0.0
for x, y in loader:
    optimizer.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()
    total += loss.item()
"""


def test_sarif_fixes_are_only_edits_to_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A display-only suggestion (TL101's `loss.detach()`) is no SARIF fix; it stays readable in
    the result's properties. Safe and unsafe fixes remain SARIF fixes."""
    (tmp_path / "train.py").write_text(ITEM_IN_LOOP, encoding="utf-8")
    (tmp_path / "load.py").write_text(BAD, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    log = sarif_of("--select", "TL101,TL201", ".")
    _validate(log)
    _check_github_rules(log)
    results = log["runs"][0]["results"]
    (item,) = [r for r in results if r["ruleId"] == "TL101"]
    assert "fixes" not in item
    assert item["properties"]["fixApplicability"] == "display-only"
    assert "loss.detach()" in item["properties"]["suggestion"]
    loads = [r for r in results if r["ruleId"] == "TL201"]
    assert loads and all(r["fixes"] for r in loads)
    assert {r["properties"]["fixApplicability"] for r in loads} == {"unsafe"}


def test_sarif_help_text_is_plain_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bad.py").write_text(BAD, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    log = sarif_of("bad.py")
    _validate(log)
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    for rule in rules.values():
        text = rule["help"]["text"]
        assert "```" not in text and "`" not in text, rule["id"]
        assert not re.search(r"^#+ ", text, re.M), rule["id"]
        if "- **Category:**" in rule["help"]["markdown"]:
            assert "**Category:**" not in text and "- Category: " in text, rule["id"]
    help_ = rules["TL201"]["help"]
    assert help_["text"] != help_["markdown"]
    text = help_["text"]
    assert text.startswith("TL201 torch-load-without-weights-only\n")
    assert "\nWhat it does\n" in text and "\nUse instead\n" in text
    assert "Reports calls to torch.load" in text
    # Code blocks are kept as indented code, line for line.
    assert '\n    state = torch.load("checkpoint.pt", weights_only=True)\n' in text
    # A link keeps its address.
    markdown = help_["markdown"]
    link = re.search(r"\[([^\]]+)\]\((https?://[^)]+)\)", markdown)
    if link:
        assert f"{link[1]} ({link[2]})" in text.replace("`", "")


def test_json_url_is_the_rule_documentation_link(project: Path) -> None:
    """``url`` is the link the language server gives (codeDescription): the rule's page on the
    documentation site, whose root is declared once, in pyproject's ``[project.urls]``."""
    from torchlint.docs import RULE_PAGE, documentation_url

    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text("utf-8"))
    declared = pyproject["project"]["urls"]["Documentation"]
    # Read at run time from the installed distribution's metadata.
    assert documentation_url() == declared.rstrip("/") + "/", "stale metadata: pip install -e ."
    for fmt in ("json", "json-lines"):
        code, out = cli("--output-format", fmt, "src")
        assert code == 1
        items = json.loads(out) if fmt == "json" else [json.loads(x) for x in out.splitlines()]
        by_code = {d["code"]: d["url"] for d in items}
        assert set(by_code) == {"TL000", "TL201"}  # the syntax error, torch.load
        url = by_code["TL201"]
        assert url == declared.rstrip("/") + "/" + RULE_PAGE.format(code="TL201"), url
        assert urlparse(url).scheme == "https" and url.endswith("/rules/TL201.html"), url
    # `torchlint rule` prints the page shipped with torchlint: no network.
    _, doc = cli("rule", "TL201")
    assert doc.startswith("# TL201 torch-load-without-weights-only")
