"""[tool.torchlint] configuration: discovery, merging, validation errors a user can act on."""

from __future__ import annotations

import json
from pathlib import Path

from test_cli import BAD, run


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def codes(result) -> list[tuple[str, str]]:  # noqa: ANN001
    return sorted((Path(d["filename"]).name, d["code"]) for d in json.loads(result.output))


def test_ignore_in_pyproject(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.torchlint]\nignore = ["TL201"]\n')
    write(tmp_path / "a.py", BAD)
    assert run(".", cwd=tmp_path).exit_code == 0


def test_nearest_config_wins(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.torchlint]\nignore = ["TL201"]\n')
    write(tmp_path / "sub" / "pyproject.toml", '[tool.torchlint]\nselect = ["TL2"]\n')
    write(tmp_path / "a.py", BAD)
    write(tmp_path / "sub" / "b.py", BAD)
    result = run("--output-format", "json", ".", cwd=tmp_path)
    assert codes(result) == [("b.py", "TL201")]


def test_pyproject_without_table_is_skipped(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.torchlint]\nignore = ["TL201"]\n')
    write(tmp_path / "sub" / "pyproject.toml", "[project]\nname = 'sub'\n")
    write(tmp_path / "sub" / "b.py", BAD)
    assert run(".", cwd=tmp_path).exit_code == 0


def test_torchlint_toml(tmp_path: Path) -> None:
    write(tmp_path / "torchlint.toml", 'ignore = ["torch-load-without-weights-only"]\n')
    write(tmp_path / "a.py", BAD)
    assert run(".", cwd=tmp_path).exit_code == 0


def test_per_file_ignores(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        '[tool.torchlint.per-file-ignores]\n"scripts/*" = ["TL201"]\n"legacy.py" = ["TL2"]\n',
    )
    write(tmp_path / "scripts" / "a.py", BAD)
    write(tmp_path / "legacy.py", BAD)
    write(tmp_path / "pkg" / "b.py", BAD)
    assert codes(run("--output-format", "json", ".", cwd=tmp_path)) == [("b.py", "TL201")]


def test_exclude_and_extend_exclude(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.torchlint]\nextend-exclude = ["generated/"]\n')
    write(tmp_path / "generated" / "a.py", BAD)
    write(tmp_path / "build" / "b.py", BAD)  # excluded by default
    write(tmp_path / "c.py", BAD)
    assert codes(run("--output-format", "json", ".", cwd=tmp_path)) == [("c.py", "TL201")]


def test_gitignore_is_honoured(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    write(tmp_path / ".gitignore", "scratch/\n*_tmp.py\n")
    write(tmp_path / "scratch" / "a.py", BAD)
    write(tmp_path / "x_tmp.py", BAD)
    write(tmp_path / "keep.py", BAD)
    assert codes(run("--output-format", "json", ".", cwd=tmp_path)) == [("keep.py", "TL201")]


def test_explicit_file_is_linted_unless_force_exclude(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.torchlint]\nextend-exclude = ["gen.py"]\n')
    write(tmp_path / "gen.py", BAD)
    assert run("gen.py", cwd=tmp_path).exit_code == 1
    assert run("--force-exclude", "gen.py", cwd=tmp_path).exit_code == 0


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.torchlint]\nselekt = ["TL0"]\n')
    write(tmp_path / "a.py", BAD)
    result = run(".", cwd=tmp_path)
    assert result.exit_code == 2
    assert "pyproject.toml: unknown key `tool.torchlint.selekt` (did you mean `select`?)" in (
        result.output
    )


def test_unknown_rule_code_in_config(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.torchlint]\nignore = ["TL7777"]\n')
    write(tmp_path / "a.py", BAD)
    result = run(".", cwd=tmp_path)
    assert result.exit_code == 2
    assert "`tool.torchlint.ignore`: unknown rule selector 'TL7777'" in result.output


def test_bad_toml(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.torchlint\nselect = \n")
    write(tmp_path / "a.py", BAD)
    result = run(".", cwd=tmp_path)
    assert result.exit_code == 2
    assert "pyproject.toml: invalid TOML" in result.output
    assert "Traceback" not in result.output


def test_config_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_bytes(b"\xff\xfe[tool")
    write(tmp_path / "a.py", BAD)
    result = run("a.py", cwd=tmp_path)
    assert result.exit_code == 2
    assert (
        f"torchlint: error: {tmp_path / 'pyproject.toml'}: not valid UTF-8: invalid byte "
        "b'\\xff' at line 1, column 1 (TOML files must be UTF-8)\n"
    ) == result.output
    (tmp_path / "pyproject.toml").unlink()
    (tmp_path / "torchlint.toml").write_bytes('select = ["TL2"]\n# caf\xe9\n'.encode("latin-1"))
    result = run("a.py", cwd=tmp_path)
    assert result.exit_code == 2
    assert "torchlint.toml: not valid UTF-8: invalid byte b'\\xe9' at line 2, column 6" in (
        result.output
    )


def test_config_nested_too_deeply(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.torchlint]\nx = " + "[" * 5000 + "]" * 5000 + "\n")
    write(tmp_path / "a.py", BAD)
    result = run("a.py", cwd=tmp_path)
    assert result.exit_code == 2
    assert "pyproject.toml: invalid TOML: nested too deeply" in result.output


def test_wrong_value_type(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.torchlint]\npreview = "yes"\n')
    write(tmp_path / "a.py", BAD)
    result = run(".", cwd=tmp_path)
    assert result.exit_code == 2
    assert "`tool.torchlint.preview`: expected true or false" in result.output


def test_rule_options_are_validated(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.torchlint.rules.no-such-rule]\nx = 1\n")
    write(tmp_path / "a.py", BAD)
    result = run(".", cwd=tmp_path)
    assert result.exit_code == 2
    assert "`tool.torchlint.rules.no-such-rule`: unknown rule" in result.output
    write(
        tmp_path / "pyproject.toml",
        "[tool.torchlint.rules.torch-load-without-weights-only]\nx = 1\n",
    )
    result = run(".", cwd=tmp_path)
    assert result.exit_code == 2
    assert "unknown option `x`" in result.output


def test_explicit_config_file(tmp_path: Path) -> None:
    write(tmp_path / "conf" / "torchlint.toml", 'ignore = ["TL201"]\n')
    write(tmp_path / "a.py", BAD)
    assert run("--config", "conf/torchlint.toml", ".", cwd=tmp_path).exit_code == 0


def test_torch_version_changes_the_message(tmp_path: Path) -> None:
    write(tmp_path / "a.py", BAD)
    old = run(".", cwd=tmp_path).output
    write(tmp_path / "pyproject.toml", '[tool.torchlint]\ntorch-version = "2.6"\n')
    new = run(".", cwd=tmp_path).output
    assert "before torch 2.6" in old
    assert "the default is True only from torch 2.6" in new


def test_syntax_error_in_config_ignore_and_per_file_ignores(tmp_path: Path) -> None:
    broken = "def f(:\n    pass\n"
    write(tmp_path / "legacy" / "old.py", broken)
    write(tmp_path / "new.py", broken)
    write(tmp_path / "c.py", BAD)
    write(
        tmp_path / "pyproject.toml",
        '[tool.torchlint.per-file-ignores]\n"legacy/*" = ["TL000"]\n',
    )
    result = run("--output-format", "json", ".", cwd=tmp_path)
    assert result.exit_code == 1, result.output
    assert codes(result) == [("c.py", "TL201"), ("new.py", "TL000")]
    write(
        tmp_path / "pyproject.toml",
        '[tool.torchlint]\nignore = ["syntax-error"]\n'
        '[tool.torchlint.per-file-ignores]\n"c.py" = ["TL2"]\n',
    )
    result = run(".", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    # A per-file prefix or ALL leaves the syntax error on, as --ignore does.
    write(tmp_path / "pyproject.toml", '[tool.torchlint.per-file-ignores]\n"*.py" = ["ALL"]\n')
    assert codes(run("--output-format", "json", ".", cwd=tmp_path)) == [
        ("new.py", "TL000"),
        ("old.py", "TL000"),
    ]


def test_default_excludes_skip_environments_caches_and_build_leftovers(tmp_path: Path) -> None:
    skipped = [
        "venv/lib/m.py",
        ".venv/m.py",
        ".tox/py311/lib/m.py",
        ".nox/tests/m.py",
        "lib/python3.11/site-packages/pkg/m.py",
        ".mypy_cache/m.py",
        ".ruff_cache/m.py",
        ".eggs/pkg/m.py",
        "src/mypkg.egg-info/m.py",
        "pkg.egg-info/m.py",
        "sub/venv/m.py",
    ]
    for name in skipped:
        write(tmp_path / name, BAD)
    write(tmp_path / "src" / "mypkg" / "c.py", BAD)
    assert codes(run("--output-format", "json", ".", cwd=tmp_path)) == [("c.py", "TL201")]
    # Named on the command line, such a file is still linted (unless --force-exclude).
    assert run("pkg.egg-info/m.py", cwd=tmp_path).exit_code == 1
    assert run("--force-exclude", "pkg.egg-info/m.py", cwd=tmp_path).exit_code == 0


def test_per_file_ignore_of_a_rule_that_is_not_enabled(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        '[tool.torchlint]\nignore = ["TL2"]\n[tool.torchlint.per-file-ignores]\n"a.py" = ["TL201"]\n',
    )
    write(tmp_path / "a.py", BAD)
    result = run("a.py", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert result.output == "All checks passed!\n"
