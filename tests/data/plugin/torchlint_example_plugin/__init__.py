"""A tiny third-party rule package, registered through the `torchlint.rules` entry point."""

import os
import signal

import libcst as cst

from torchlint.diagnostics import Category, Precision, Severity
from torchlint.rule import Rule


class NoPrintInModel(Rule):
    """Reports `print(...)` calls (an example plug-in rule)."""

    code = "XPL001"
    name = "example-no-print"
    summary = "`print` call"
    category = Category.PERFORMANCE
    severity = Severity.INFO
    precision = Precision.HIGH
    needles = ("print",)

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and node.func.value == "print":
            self.report(node, "`print` in library code; use logging")


class CrashesOnMarker(Rule):
    """A deliberately broken rule: raises on the name CRASH_HERE (tests the crash guard)."""

    code = "XPL002"
    name = "example-crashes"
    summary = "crashes on purpose"
    category = Category.CORRECTNESS
    severity = Severity.ERROR
    precision = Precision.HIGH
    needles = ("CRASH_HERE",)

    def visit_Name(self, node: cst.Name) -> None:
        if node.value == "CRASH_HERE":
            raise ZeroDivisionError("this rule is broken on purpose")


class EditsTheFileOnDisk(Rule):
    """Appends a line to the file it lints on the name EDIT_ON_DISK_HERE, reporting nothing: an
    editor saving the file while torchlint fixes it (tests the changed-on-disk guard)."""

    code = "XPL003"
    name = "example-edits-on-disk"
    summary = "edits the file on disk on purpose"
    category = Category.CORRECTNESS
    severity = Severity.INFO
    precision = Precision.HIGH
    needles = ("EDIT_ON_DISK_HERE",)

    def visit_Name(self, node: cst.Name) -> None:
        if node.value != "EDIT_ON_DISK_HERE":
            return
        with open(self.context.path, "a+", encoding="utf-8") as handle:
            handle.seek(0)
            if "# edited by someone else" not in handle.read():
                handle.write("# edited by someone else\n")


class KillsItsProcess(Rule):
    """Kills the process linting the file on the name KILL_WORKER_HERE, as the OOM killer or a
    crash in native code would (tests that a dead worker costs only its file)."""

    code = "XPL004"
    name = "example-kills-its-process"
    summary = "kills its process on purpose"
    category = Category.CORRECTNESS
    severity = Severity.INFO
    precision = Precision.HIGH
    needles = ("KILL_WORKER_HERE",)

    def visit_Name(self, node: cst.Name) -> None:
        if node.value == "KILL_WORKER_HERE":
            os.kill(os.getpid(), signal.SIGKILL)
