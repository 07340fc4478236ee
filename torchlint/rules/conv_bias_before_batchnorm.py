"""TL109 conv-bias-before-batchnorm.

Batch normalisation subtracts the per-channel mean of its input, so a bias added by the
convolution right before it is cancelled out: the parameter is trained, stored and computed for
nothing. BatchNorm's own ``beta`` plays its role.

On real code the pattern sits mostly in model definitions whose trained checkpoints are published:
there ``bias=False`` would drop a ``...bias`` key that every released state dict holds, so a file
that names its pretrained weights is not reported, the fix is only shown, and the rule is in
preview.
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
# Evidence that the file's models come with published weights: a download helper, a weights URL,
# a registry of pretrained configurations.
_PUBLISHED_WEIGHTS = re.compile(
    r"load_state_dict_from_url|hf_hub_id|hf_hub_download|model_urls|default_cfgs|pretrained_cfg"
    r"|https?://\S+\.(?:pth|pt|ckpt|bin|safetensors)\b"
)


class ConvBiasBeforeBatchNorm(Rule):
    code = "TL109"
    name = "conv-bias-before-batchnorm"
    summary = "A convolution with a bias directly followed by BatchNorm in `nn.Sequential`"
    category = Category.PERFORMANCE
    severity = Severity.WARNING
    precision = Precision.HEURISTIC
    preview = True
    fix_applicability = Applicability.DISPLAY_ONLY
    needles = ("BatchNorm",)
    report_in_tests = False  # tests build throwaway models

    def setup(self) -> None:
        self._published: bool | None = None

    def _has_published_weights(self) -> bool:
        if self._published is None:
            self._published = _PUBLISHED_WEIGHTS.search(self.context.source) is not None
        return self._published

    def visit_Call(self, node: cst.Call) -> None:
        if self.context.qualified_name(node.func) != _SEQUENTIAL:
            return
        if self._has_published_weights():
            return  # released checkpoints hold the bias: removing it breaks strict loading
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
                "Pass `bias=False` (checkpoints saved with the bias then need converting)",
                Applicability.DISPLAY_ONLY,
                (Replace(conv, new, self.context.block_indent()),),
            )
        elif isinstance(bias.value, cst.Name) and bias.value.value == "True":
            fix = FixPlan(
                "Pass `bias=False` (checkpoints saved with the bias then need converting)",
                Applicability.DISPLAY_ONLY,
                (Replace(bias.value, "False"),),
            )
        else:
            return  # bias=False, or a value computed at run time
        self.report(
            conv,
            f"`{conv_kind}` has a bias but feeds `{norm_kind}` directly, which subtracts the "
            "channel mean and cancels it: the bias is trained and stored for nothing; pass "
            "`bias=False` in new models (existing checkpoints hold a `bias` key for it)",
            fix=fix,
        )
