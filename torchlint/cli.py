"""The ``torchlint`` command. ``torchlint PATH...`` is ``torchlint check PATH...``."""

from __future__ import annotations

import difflib
import errno
import io
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from torchlint import __version__
from torchlint.cache import NotACache, find_caches, project_cache_dir, remove_cache
from torchlint.config import (
    ConfigError,
    Overrides,
    SettingsResolver,
    check_patterns,
    real_path,
)
from torchlint.diagnostics import Applicability, FileResult, RunResult, syntax_error
from torchlint.docs import rule_doc
from torchlint.lines import source_lines
from torchlint.measured import label as precision_label
from torchlint.measured import measurement
from torchlint.output import OutputError, write_report
from torchlint.progress import Progress
from torchlint.registry import RuleInfo, find_rule, rule_catalog
from torchlint.report import FORMATS, ReportOptions, render
from torchlint.runner import (
    RunMode,
    apply_syntax_error_policy,
    display_path,
    process_text,
    run_paths,
)
from torchlint.selection import SelectorError, validate_selectors
from torchlint.sources import SourceError, decode_source
from torchlint.terminal import printable

if TYPE_CHECKING:
    from torchlint.rule import Rule

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class DefaultGroup(click.Group):
    """A group whose unknown first argument is a path for the default ``check`` command."""

    default_command = "check"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (
            args[0] not in self.commands and args[0] not in ("--help", "-h", "--version")
        ):
            _refuse_misspelt_subcommand(args[0] if args else "", sorted(self.commands))
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


def _refuse_misspelt_subcommand(word: str, commands: list[str]) -> None:
    """`torchlint chekc .`: a word that is no path and is close to a subcommand is a typo of it
    (as ruff answers), not a path to lint."""
    if not word or word.startswith("-") or os.path.lexists(word):
        return
    close = difflib.get_close_matches(word, commands, n=1, cutoff=0.6)
    if close:
        _fail(f"unrecognized subcommand '{word}'; a similar subcommand exists: '{close[0]}'")


def _split(values: tuple[str, ...]) -> tuple[str, ...]:
    """``--select TL001,TL2 --select missing-zero-grad`` -> each selector once."""
    out: list[str] = []
    for value in values:
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return tuple(out)


def _fail(message: str) -> NoReturn:
    click.echo(f"torchlint: error: {message}", err=True)
    sys.exit(EXIT_ERROR)


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="torchlint")
def main() -> None:
    """torchlint: find and fix PyTorch anti-patterns.

    Run `torchlint PATH...` to lint (the `check` command is the default).
    """


@main.command()
# readable=False: a path that cannot be read is reported by the run (located, and the other
# paths are still linted), not refused by click before anything is linted.
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path, allow_dash=True, readable=False))
@click.option("--select", multiple=True, help="Rules to enable (codes, prefixes like TL0, names).")
@click.option("--extend-select", multiple=True, help="Rules to enable on top of the selection.")
@click.option("--ignore", multiple=True, help="Rules to disable.")
@click.option("--preview/--no-preview", default=None, help="Enable preview (heuristic) rules.")
@click.option("--fix/--no-fix", default=False, help="Apply safe fixes.")
@click.option(
    "--unsafe-fixes/--no-unsafe-fixes",
    default=None,
    help="Also apply (with --fix) or show unsafe fixes.",
)
@click.option(
    "--diff", is_flag=True, help="Print a diff of what --fix would change; write nothing."
)
@click.option("--show-fixes", is_flag=True, help="List the fixes that were applied.")
@click.option("--fix-only", is_flag=True, help="Apply fixes without reporting what is left.")
@click.option(
    "--output-format",
    type=click.Choice(sorted(FORMATS)),
    default="text",
    show_default=True,
    help="How findings are printed.",
)
@click.option(
    "-o",
    "--output-file",
    type=click.Path(path_type=Path, dir_okay=False, readable=False),
    help="Write the report to a file instead of stdout.",
)
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when findings remain.")
@click.option(
    "--exit-non-zero-on-fix",
    is_flag=True,
    help="Exit 1 when --fix changed files, even if nothing remains.",
)
@click.option("--statistics", is_flag=True, help="Print the number of findings per rule.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Use this config file (pyproject.toml or torchlint.toml) for every file.",
)
@click.option("--no-color", is_flag=True, help="Never color the output.")
@click.option("-q", "--quiet", is_flag=True, help="Print only findings (and errors).")
@click.option(
    "--stdin-filename",
    type=click.Path(path_type=Path, readable=False),
    help="The name of the file read from stdin (for config and output).",
)
@click.option(
    "--force-exclude",
    is_flag=True,
    help="Apply excludes to files named on the command line too (pre-commit).",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes (default: the available cores).",
)
@click.option("--no-cache", is_flag=True, help="Neither read nor write the results cache.")
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where the results cache lives (default: .torchlint_cache at the project root).",
)
@click.option(
    "--fix-follow-symlinks/--no-fix-follow-symlinks",
    default=None,
    help="Let --fix write files that symbolic links lead to outside the paths given "
    "(default: yes, no when CI=true).",
)
@click.option("--exclude", multiple=True, help="Path patterns to exclude (replaces the default).")
@click.option("--extend-exclude", multiple=True, help="Path patterns to exclude, added.")
def check(
    paths: tuple[Path, ...],
    select: tuple[str, ...],
    extend_select: tuple[str, ...],
    ignore: tuple[str, ...],
    preview: bool | None,
    fix: bool,
    unsafe_fixes: bool | None,
    diff: bool,
    show_fixes: bool,
    fix_only: bool,
    output_format: str,
    output_file: Path | None,
    exit_zero: bool,
    exit_non_zero_on_fix: bool,
    statistics: bool,
    config_path: Path | None,
    no_color: bool,
    quiet: bool,
    stdin_filename: Path | None,
    force_exclude: bool,
    jobs: int | None,
    no_cache: bool,
    cache_dir: Path | None,
    fix_follow_symlinks: bool | None,
    exclude: tuple[str, ...],
    extend_exclude: tuple[str, ...],
) -> None:
    """Lint PATHS (default: the current directory); `-` reads standard input."""
    if no_cache:
        from torchlint import plugins

        plugins.RECORD_INDEX = False  # no cache of any kind is written, the plug-in index included
    for option, values in (
        ("--select", select),
        ("--extend-select", extend_select),
        ("--ignore", ignore),
    ):
        if any(not value.strip() for value in values):
            # `--select "$RULES"` with RULES unset would silently turn every rule off.
            _fail(f"{option}: empty rule selector (see `torchlint rules`)")
    for option, values in (("--exclude", exclude), ("--extend-exclude", extend_exclude)):
        try:
            check_patterns(_split(values), option)
        except ConfigError as exc:
            _fail(str(exc))
    overrides = Overrides(
        select=_split(select) if select else None,
        extend_select=_split(extend_select),
        ignore=_split(ignore),
        preview=preview,
        unsafe_fixes=unsafe_fixes,
        exclude=_split(exclude) if exclude else None,
        extend_exclude=_split(extend_exclude),
        fix_follow_symlinks=fix_follow_symlinks,
    )
    try:
        validate_selectors([*overrides.extend_select, *overrides.ignore, *(overrides.select or ())])
    except SelectorError as exc:
        _fail(f"{exc} (see `torchlint rules`)")
    if stdin_filename is not None and _is_dir(stdin_filename):
        _fail(f"--stdin-filename {stdin_filename} is a directory; give a file name")
    try:
        resolver = SettingsResolver(overrides, config_path)
    except ConfigError as exc:
        _fail(str(exc))

    fix = fix or fix_only
    mode = RunMode(
        fix=fix or diff,
        write=fix and not diff,
        unsafe=unsafe_fixes,
        write_within=tuple(
            os.path.realpath(p if _is_dir(p) else p.parent) for p in paths or (Path("."),)
        ),
    )
    use_stdin = paths == (Path("-"),) or (not paths and stdin_filename is not None)
    try:
        if use_stdin:
            run, stdin_fixed = _run_stdin(resolver, mode, stdin_filename)
        else:
            progress = None
            if output_format in ("text", "concise") and sys.stderr.isatty() and not quiet:
                progress = Progress()
            run = run_paths(
                paths or (Path("."),),
                resolver,
                mode,
                force_exclude=force_exclude,
                jobs=jobs,
                cache_dir=cache_dir,
                use_cache=not no_cache,
                progress=progress,
            )
            if progress is not None:
                progress.close()
            stdin_fixed = None
    except ConfigError as exc:
        _fail(str(exc))

    if not use_stdin and not run.files and not run.errors and not quiet:
        click.echo("torchlint: warning: No Python files found under the given path(s)", err=True)
    for message in run.warnings:
        click.echo(f"torchlint: warning: {message}", err=True)
    for path, message in run.errors:
        click.echo(f"torchlint: error: {printable(str(path))}: {printable(message)}", err=True)
    for file in run.files:
        if file.error:
            click.echo(f"torchlint: error: {printable(file.path)}: {file.error}", err=True)
        for warning in file.warnings:
            click.echo(f"torchlint: warning: {printable(file.path)}: {warning}", err=True)
    for error in run.internal_errors:
        first = error.message.splitlines()[0]
        if error.rule == "engine":  # no rule ran to the end on this file
            where, checked = "internal error", "the other files were checked"
        else:
            where, checked = (
                f"internal error in rule {error.rule}",
                "the other rules and files were checked",
            )
        click.echo(
            f"torchlint: error: {where} on {printable(error.path)}: {printable(first)} "
            f"({checked}; please report this)",
            err=True,
        )

    if output_file is not None:
        linted = [Path(f.path) for f in run.files if not use_stdin]
        if use_stdin and stdin_filename is not None:
            linted.append(stdin_filename)
        target = os.path.realpath(output_file)
        if any(os.path.realpath(p) == target for p in linted):
            _fail(
                f"not writing the report to {output_file}: it is a file being linted "
                "(choose another -o/--output-file)"
            )

    unsafe = bool(unsafe_fixes) if unsafe_fixes is not None else _settings_unsafe(resolver)
    if diff:
        patch = _unified_diff(run.files)
        _emit(patch, output_file)
        if run.has_errors:
            sys.exit(EXIT_ERROR)
        changed = any(f.fixed is not None for f in run.files)
        sys.exit(EXIT_FINDINGS if changed and not exit_zero else EXIT_CLEAN)

    if stdin_fixed is not None:
        sys.stdout.flush()  # anything already written as text goes first
        stdout = sys.stdout.buffer
        stdout.write(stdin_fixed)
        stdout.flush()
        report_to_stderr = True
    else:
        report_to_stderr = False

    color = (
        not no_color
        and output_file is None
        and output_format in ("text", "concise")
        and "NO_COLOR" not in os.environ
        and (sys.stderr if report_to_stderr else sys.stdout).isatty()
    )
    options = ReportOptions(
        color=color,
        unsafe_fixes=unsafe,
        show_fixes=show_fixes,
        statistics=statistics,
        fixing=fix,
        quiet=quiet,
    )
    if fix_only and output_format in ("text", "concise"):
        from torchlint.report.text import render_fix_only

        _emit(render_fix_only(run, options), output_file, err=report_to_stderr)
    else:
        _emit(render(output_format, run, options), output_file, err=report_to_stderr)

    if run.has_errors:
        sys.exit(EXIT_ERROR)
    changed = any(f.applied for f in run.files)
    if run.diagnostics and not fix_only and not exit_zero:
        sys.exit(EXIT_FINDINGS)
    if changed and exit_non_zero_on_fix:
        sys.exit(EXIT_FINDINGS)
    sys.exit(EXIT_CLEAN)


def _settings_unsafe(resolver: SettingsResolver) -> bool:
    try:
        return bool(resolver.for_path(Path.cwd()).unsafe_fixes)
    except ConfigError:
        return False


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # e.g. a name inside a directory we may not search: not a directory we know of
        return False


def _run_stdin(
    resolver: SettingsResolver, mode: RunMode, stdin_filename: Path | None
) -> tuple[RunResult, bytes | None]:
    """Lint standard input; with --fix, also the bytes to print: the code, fixed or not.

    The caller of ``torchlint - --fix`` (an editor, a pipe) replaces its text with what comes
    out, so the output is always code in the input's own encoding (BOM and coding cookie kept),
    and input that cannot be read as Python comes back unchanged (the report goes to stderr).
    """
    display = str(stdin_filename) if stdin_filename is not None else "-"
    where = stdin_filename if stdin_filename is not None else Path.cwd() / "-"
    settings = resolver.for_path(where.parent if where.parent != Path("") else Path.cwd())
    data = sys.stdin.buffer.read()
    echo = data if mode.fix and mode.write else None
    try:
        text, encoding = decode_source(data, display)
    except SourceError as exc:
        finding = syntax_error(display, str(exc), exc.line, exc.column)
        unreadable = FileResult(path=display, diagnostics=[finding])
        return RunResult(files=[apply_syntax_error_policy(unreadable, settings, where)]), echo
    # A notebook's name (--stdin-filename nb.ipynb): read as a notebook.
    result = process_text(text, display, settings, RunMode(fix=mode.fix, unsafe=mode.unsafe), where)
    run = RunResult(files=[result])
    if echo is not None and result.fixed is not None:
        try:
            echo = result.fixed.encode(encoding)
        except UnicodeEncodeError:
            result.error = f"fixes not written: fixed text cannot be encoded as {encoding}"
    return run, echo


def _unified_diff(files: list[FileResult]) -> str:
    from torchlint.notebook_files import notebook_diff

    notebooks = [f for f in files if f.path.endswith(".ipynb")]
    patch = "".join(
        notebook_diff(f.path, f.original, f.fixed)
        for f in notebooks
        if f.original is not None and f.fixed is not None
    )
    return patch + _unified_python_diff([f for f in files if f not in notebooks])


def _unified_python_diff(files: list[FileResult]) -> str:
    chunks: list[str] = []
    for file in files:
        if file.fixed is None or file.original is None:
            continue
        chunks.extend(
            difflib.unified_diff(
                source_lines(file.original, keepends=True),
                source_lines(file.fixed, keepends=True),
                fromfile=file.path,
                tofile=file.path,
            )
        )
    text = "".join(chunks)
    if text and not text.endswith("\n"):
        text += "\n\\ No newline at end of file\n"
    return text


def _emit(text: str, output_file: Path | None, err: bool = False) -> None:
    try:
        write_report(text, output_file, err)
    except OutputError as exc:
        _fail(str(exc))


@main.command("rule")
@click.argument("rule_id")
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text")
def rule_command(rule_id: str, output_format: str) -> None:
    """Print the documentation of one rule (by code or name)."""
    rule = find_rule(rule_id)
    if rule is None:
        _fail(f"unknown rule {rule_id!r} (see `torchlint rules`)")
    if output_format == "json":
        click.echo(json.dumps({**_rule_record(rule), "doc": rule_doc(rule)}, indent=2))
    else:
        click.echo(rule_doc(rule).rstrip("\n"))


def _rule_record(rule: type[Rule] | RuleInfo) -> dict[str, Any]:
    fix = rule.fix_applicability.value if rule.fix_applicability is not None else None
    return {
        "code": rule.code,
        "name": rule.name,
        "summary": rule.summary,
        "category": rule.category.value,
        "severity": rule.severity.value,
        "precision": measurement(rule.code),
        "fix": fix,
        "preview": rule.preview,
    }


@main.command("rules")
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text")
def rules_command(output_format: str) -> None:
    """List every rule."""
    rules = rule_catalog()  # from the rule index: no rule module is imported
    if output_format == "json":
        click.echo(json.dumps([_rule_record(r) for r in rules], indent=2))
        return
    headers = ("code", "name", "category", "severity", "fix", "precision", "preview")
    rows = [
        (
            r.code,
            r.name,
            r.category.value,
            r.severity.value,
            r.fix_applicability.value if r.fix_applicability is not None else "-",
            precision_label(r.code),
            "yes" if r.preview else "",
        )
        for r in rules
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    click.echo("  ".join("-" * w for w in widths))
    for row in rows:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


@main.command("clean")
@click.argument("path", required=False, type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Remove this results cache (as given to `check --cache-dir`).",
)
@click.option(
    "-r",
    "--recursive",
    is_flag=True,
    help="Also remove every .torchlint_cache at or below PATH.",
)
def clean_command(path: Path | None, cache_dir: Path | None, recursive: bool) -> None:
    """Remove the results cache of the project PATH is in (default: .), and list what is removed.

    The project root is found as for settings (the nearest config file at or above PATH; outside
    a project, PATH itself). With --recursive, every .torchlint_cache at or below PATH goes too.
    With --cache-dir, that cache is removed (and PATH's only if PATH is given). A directory is only
    removed when it is a torchlint cache: it holds torchlint's markers and entries, nothing else.
    """
    targets: list[Path] = []
    if cache_dir is not None and cache_dir.exists():
        targets.append(cache_dir)
    if path is not None or cache_dir is None:
        start = path if path is not None else Path(".")
        if recursive:
            targets.extend(find_caches(start))
        else:
            own = project_cache_dir(start)
            targets.extend([own] if own.exists() or own.is_symlink() else [])
    removed = refused = 0
    for directory in dict.fromkeys(real_path(t) for t in targets):
        try:
            remove_cache(directory)
        except NotACache as exc:
            click.echo(f"torchlint: error: not removing {display_path(directory)}: {exc}", err=True)
            refused += 1
            continue
        click.echo(f"Removed {display_path(directory)}")
        removed += 1
    if not removed and not refused:
        click.echo("No cache found.")
    if refused:
        sys.exit(EXIT_ERROR)


_ = Applicability  # re-exported for plug-in authors' convenience

# Commands defined in their own modules register here (one line each).
# -- command registrations --
from torchlint.lsp_cli import lsp_command  # noqa: E402

main.add_command(lsp_command)
from torchlint.runtime.command import verify_command  # noqa: E402

main.add_command(verify_command)


# Writing the output failed for want of room, not for a fault of torchlint (stdout to /dev/full).
_OUTPUT_ERRNOS = frozenset(
    getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EFBIG", "EIO") if hasattr(errno, name)
)


def run_cli() -> None:
    """The console entry point: no traceback ever reaches a user (TORCHLINT_DEBUG=1 shows it)."""
    for stream in (sys.stdout, sys.stderr):
        # A terminal or PYTHONIOENCODING that cannot show a character (an emoji in a flagged
        # line under latin-1) gets an escape for it, never an exception that loses the report.
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    try:
        try:
            # Not standalone: click would turn Ctrl-C into "Aborted!" and exit 1, the status
            # of findings.
            result = main.main(standalone_mode=False)
            status: int | str | None = result if isinstance(result, int) else 0
        except SystemExit as exc:
            status = exc.code
        sys.stdout.flush()
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("torchlint: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except OSError as exc:
        if exc.errno != errno.EPIPE and exc.errno not in _OUTPUT_ERRNOS:
            _internal_error(exc)
        # What could not be written would be tried again at exit, and fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        if exc.errno == errno.EPIPE:
            sys.exit(1)  # `torchlint . | head`: the reader has what it wanted (as click exits)
        click.echo(f"torchlint: error: cannot write the output: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_ERROR)
    except Exception as exc:
        _internal_error(exc)
    sys.exit(status)


def _internal_error(exc: Exception) -> NoReturn:
    if os.environ.get("TORCHLINT_DEBUG"):
        raise exc
    click.echo(
        f"torchlint: error: internal error: {type(exc).__name__}: {exc} "
        "(set TORCHLINT_DEBUG=1 for the traceback; please report this)",
        err=True,
    )
    sys.exit(EXIT_ERROR)


if __name__ == "__main__":
    run_cli()
