"""TL109 conv-bias-before-batchnorm.

Batch normalisation subtracts the per-channel mean of its input, so a bias added by the
convolution right before it is cancelled out: the parameter is trained, stored and computed for
nothing. BatchNorm's own ``beta`` plays its role.
"""

from __future__ import annotations

import re

import libcst as cst

from torchlint.analysis.data import has_star_kwargs, keyword_arg
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import FixPlan, Replace, add_keyword_argument
from torchlint.rule import Rule

_CONV = re.compile(r"^torch\.nn\.(Conv[123]d|ConvTranspose[123]d)$")
_NORM = re.compile(r"^torch\.nn\.(BatchNorm[123]d|SyncBatchNorm)$")
_SEQUENTIAL = "torch.nn.Sequential"
_BIAS_POSITION = 7  # in_channels, out_channels, kernel_size, stride, padding, ..., bias


class ConvBiasBeforeBatchNorm(Rule):
    code = "TL109"
    name = "conv-bias-before-batchnorm"
    summary = "A convolution with a bias directly followed by BatchNorm in `nn.Sequential`"
    category = Category.PERFORMANCE
    severity = Severity.WARNING
    precision = Precision.HIGH
    fix_applicability = Applicability.UNSAFE
    needles = ("BatchNorm",)

    def visit_Call(self, node: cst.Call) -> None:
        if self.context.qualified_name(node.func) != _SEQUENTIAL:
            return
        args = list(node.args)
        for index, arg in enumerate(args[:-1]):
            following = args[index + 1]
            if arg.keyword is not None or arg.star or following.keyword or following.star:
                continue
            conv, norm = arg.value, following.value
            if not (isinstance(conv, cst.Call) and isinstance(norm, cst.Call)):
                continue
            conv_name = self.context.qualified_name(conv.func)
            norm_name = self.context.qualified_name(norm.func)
            if conv_name is None or norm_name is None:
                continue
            if not _CONV.match(conv_name) or not _NORM.match(norm_name):
                continue
            self._check(conv, conv_name.rsplit(".", 1)[-1], norm_name.rsplit(".", 1)[-1])

    def _check(self, conv: cst.Call, conv_kind: str, norm_kind: str) -> None:
        if has_star_kwargs(conv):
            return
        bias = keyword_arg(conv, "bias")
        positional = [a for a in conv.args if a.keyword is None]
        if any(a.star for a in positional):
            return
        if bias is None and len(positional) > _BIAS_POSITION:
            bias = positional[_BIAS_POSITION]
        if bias is None:
            new = add_keyword_argument(conv, "bias", "False")
            fix = FixPlan(
                "Pass `bias=False`",
                Applicability.UNSAFE,
                (Replace(conv, new, self.context.block_indent()),),
            )
        elif isinstance(bias.value, cst.Name) and bias.value.value == "True":
            fix = FixPlan(
                "Pass `bias=False`", Applicability.UNSAFE, (Replace(bias.value, "False"),)
            )
        else:
            return  # bias=False, or a value computed at run time
        self.report(
            conv,
            f"`{conv_kind}` has a bias but feeds `{norm_kind}` directly, which subtracts the "
            "channel mean and cancels it: pass `bias=False`",
            fix=fix,
        )
