"""Qualified-name resolution from a file's imports.

Full LibCST scope analysis costs several times the parse itself, so torchlint resolves names the
way a reader does: from the import statements of the file. ``th.load``, ``L`` after
``from torch import load as L`` and ``torch.load`` all resolve to ``torch.load``.
"""

from __future__ import annotations

import libcst as cst

# Spellings that reach the same object through another module path.
CANONICAL = {
    "torch.nn.modules.loss.CrossEntropyLoss": "torch.nn.CrossEntropyLoss",
    "torch.nn.modules.loss.BCELoss": "torch.nn.BCELoss",
    "torch.nn.modules.loss.NLLLoss": "torch.nn.NLLLoss",
    "torch.nn.modules.module.Module": "torch.nn.Module",
    "torch.nn.modules.Module": "torch.nn.Module",
    "torch.nn.parallel.data_parallel.DataParallel": "torch.nn.parallel.DataParallel",
    "torch.nn.DataParallel": "torch.nn.parallel.DataParallel",
    "torch.nn.parallel.data_parallel.data_parallel": "torch.nn.parallel.data_parallel",
    "torch.serialization.load": "torch.load",
    "torch.serialization.save": "torch.save",
    "torch.functional.F": "torch.nn.functional",
    "torch.cuda.memory.empty_cache": "torch.cuda.empty_cache",
    "torch.nn.modules.activation.Softmax": "torch.nn.Softmax",
    "torch.nn.modules.activation.Sigmoid": "torch.nn.Sigmoid",
    "torch.nn.modules.activation.LogSoftmax": "torch.nn.LogSoftmax",
    "torch.nn.modules.loss.BCEWithLogitsLoss": "torch.nn.BCEWithLogitsLoss",
    "torch.nn.modules.Softmax": "torch.nn.Softmax",
    "torch.nn.modules.CrossEntropyLoss": "torch.nn.CrossEntropyLoss",
    "pytorch_lightning.LightningModule": "lightning.pytorch.LightningModule",
    "lightning.LightningModule": "lightning.pytorch.LightningModule",
}


def dotted_name(node: cst.BaseExpression) -> str | None:
    """``a.b.c`` for a chain of names and attributes, else None."""
    parts: list[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name):
        return None
    parts.append(node.value)
    return ".".join(reversed(parts))


def _module_name(node: cst.BaseExpression | None) -> str | None:
    if node is None:
        return None
    return dotted_name(node)


class ImportMap:
    """Maps the local names a file binds by import to the qualified names they stand for."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.star_modules: list[str] = []
        # Local names bound by ``from . import x`` / ``from .m import x``: the user's own package.
        self.relative: set[str] = set()

    def add(self, node: cst.Import | cst.ImportFrom) -> None:
        if isinstance(node, cst.Import):
            for alias in node.names:
                full = _module_name(alias.name)
                if full is None:
                    continue
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    self.aliases[alias.asname.name.value] = full
                else:
                    top = full.split(".", 1)[0]
                    self.aliases[top] = top
            return
        if node.relative:
            # Relative imports point into the user's own package: never resolved, but remembered.
            if not isinstance(node.names, cst.ImportStar):
                for alias in node.names:
                    local = alias.asname.name if alias.asname is not None else alias.name
                    if isinstance(local, cst.Name):
                        self.relative.add(local.value)
            return
        module = _module_name(node.module)
        if module is None:
            return
        if isinstance(node.names, cst.ImportStar):
            self.star_modules.append(module)
            return
        for alias in node.names:
            imported = _module_name(alias.name)
            if imported is None:
                continue
            local = imported
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            self.aliases[local] = f"{module}.{imported}"

    def resolve(self, node: cst.BaseExpression) -> str | None:
        """The qualified name of a name or attribute chain, when it comes from an import."""
        dotted = dotted_name(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        target = self.aliases.get(head)
        if target is None:
            return None
        full = f"{target}.{rest}" if rest else target
        return canonical(full)

    def imports_from(self, prefix: str) -> bool:
        return any(v == prefix or v.startswith(prefix + ".") for v in self.aliases.values())


def canonical(name: str) -> str:
    name = CANONICAL.get(name, name)
    # torch.nn.functional is reachable as torch.functional.F too; normalise the common prefix.
    if name.startswith("torch.functional.F."):
        name = "torch.nn.functional." + name[len("torch.functional.F.") :]
    return name


def collect_module_imports(module: cst.Module, into: ImportMap) -> None:
    """Imports at module level, including those under top-level ``if``/``try``/``with``."""
    pending: list[cst.CSTNode] = list(module.body)
    while pending:
        stmt = pending.pop(0)
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, (cst.Import, cst.ImportFrom)):
                    into.add(small)
        else:
            pending[:0] = _nested_statements(stmt)


def _block_statements(block: cst.BaseSuite) -> list[cst.CSTNode]:
    return list(block.body) if isinstance(block, cst.IndentedBlock) else []


def _nested_statements(stmt: cst.CSTNode) -> list[cst.CSTNode]:
    """Statements directly under a top-level if/try/with (never inside a def or class)."""
    out: list[cst.CSTNode] = []
    if isinstance(stmt, cst.If):
        out += _block_statements(stmt.body)
        if isinstance(stmt.orelse, cst.If):
            out.append(stmt.orelse)
        elif isinstance(stmt.orelse, cst.Else):
            out += _block_statements(stmt.orelse.body)
    elif isinstance(stmt, (cst.Try, cst.TryStar)):
        out += _block_statements(stmt.body)
        for handler in stmt.handlers:
            out += _block_statements(handler.body)
        for extra in (stmt.orelse, stmt.finalbody):
            if extra is not None:
                out += _block_statements(extra.body)
    elif isinstance(stmt, cst.With):
        out += _block_statements(stmt.body)
    return out
