"""EX001 load-without-map-location.

A checkpoint saved from GPU tensors records their device; ``torch.load`` without ``map_location``
puts them back there, so the same script fails with "Attempting to deserialize object on a CUDA
device" on a machine without that GPU (a CPU-only CI runner, a laptop, a smaller node).
"""

from __future__ import annotations

import libcst as cst
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, Replace, add_keyword_argument
from torchlint.rule import Rule

from torchlint_example_rules.loading import DEFAULT_MAP_LOCATION, LOADERS, passes_map_location


class LoadWithoutMapLocation(Rule):
    code = "EX001"
    name = "load-without-map-location"
    summary = "A checkpoint loaded without `map_location=`, so it needs the device it was saved on"
    category = Category.DEVICE
    severity = Severity.WARNING
    precision = Precision.HIGH
    # Unsafe: the tensors now land on the CPU, where code that expected them on a GPU must move
    # them (load_state_dict does; a bare tensor does not).
    fix_applicability = Applicability.UNSAFE
    needles = ("load",)

    def visit_Call(self, node: cst.Call) -> None:
        loader = self.context.qualified_name(node.func)
        if loader not in LOADERS or passes_map_location(node, LOADERS[loader]):
            return
        self.report(
            node,
            f"`{loader}` without `map_location=`: the checkpoint's tensors go back to the device "
            "they were saved from, which this machine may not have",
            fix=FixPlan(
                f"Add `map_location={DEFAULT_MAP_LOCATION}`",
                Applicability.UNSAFE,
                (
                    Replace(
                        node,
                        add_keyword_argument(node, "map_location", DEFAULT_MAP_LOCATION),
                        self.context.block_indent(),
                    ),
                ),
            ),
        )
