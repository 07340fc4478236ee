"""TL303 torchvision-pretrained.

torchvision 0.13 replaced the boolean ``pretrained=`` / ``pretrained_backbone=`` parameters of its
model builders with ``weights=`` / ``weights_backbone=`` taking a weights enum. The old parameters
warn and are slated for removal.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.names import dotted_name
from torchlint.analysis.spelling import spell
from torchlint.diagnostics import Applicability, Category, Precision, Severity
from torchlint.fixes import AddImport, Change, FixPlan, Replace
from torchlint.rule import Rule

_PACKAGES = ("detection", "segmentation", "video", "optical_flow", "quantization")
# torchvision 0.13 (the weights API) shipped with torch 1.12.
_WEIGHTS_API_TORCH = (1, 12)


def _classification() -> dict[str, str]:
    """Builder -> the weight that ``pretrained=True`` loads (ImageNet, the first release: V1)."""
    enums = {
        "alexnet": "AlexNet_Weights",
        "googlenet": "GoogLeNet_Weights",
        "inception_v3": "Inception_V3_Weights",
        "mobilenet_v2": "MobileNet_V2_Weights",
        "mobilenet_v3_large": "MobileNet_V3_Large_Weights",
        "mobilenet_v3_small": "MobileNet_V3_Small_Weights",
        "resnext50_32x4d": "ResNeXt50_32X4D_Weights",
        "resnext101_32x8d": "ResNeXt101_32X8D_Weights",
        "resnext101_64x4d": "ResNeXt101_64X4D_Weights",
        "wide_resnet50_2": "Wide_ResNet50_2_Weights",
        "wide_resnet101_2": "Wide_ResNet101_2_Weights",
        "squeezenet1_0": "SqueezeNet1_0_Weights",
        "squeezenet1_1": "SqueezeNet1_1_Weights",
        "maxvit_t": "MaxVit_T_Weights",
    }
    for depth in (18, 34, 50, 101, 152):
        enums[f"resnet{depth}"] = f"ResNet{depth}_Weights"
    for depth in (11, 13, 16, 19):
        enums[f"vgg{depth}"] = f"VGG{depth}_Weights"
        enums[f"vgg{depth}_bn"] = f"VGG{depth}_BN_Weights"
    for depth in (121, 161, 169, 201):
        enums[f"densenet{depth}"] = f"DenseNet{depth}_Weights"
    for b in range(8):
        enums[f"efficientnet_b{b}"] = f"EfficientNet_B{b}_Weights"
    for size in ("s", "m", "l"):
        enums[f"efficientnet_v2_{size}"] = f"EfficientNet_V2_{size.upper()}_Weights"
    for size in ("tiny", "small", "base", "large"):
        enums[f"convnext_{size}"] = f"ConvNeXt_{size.capitalize()}_Weights"
    for width in ("0_5", "0_75", "1_0", "1_3"):
        enums[f"mnasnet{width}"] = f"MNASNet{width}_Weights"
    for width in ("0_5", "1_0", "1_5", "2_0"):
        enums[f"shufflenet_v2_x{width}"] = f"ShuffleNet_V2_X{width}_Weights"
    for size in ("b_16", "b_32", "l_16", "l_32"):  # vit_h_14 never had `pretrained` weights
        enums[f"vit_{size}"] = f"ViT_{size.upper()}_Weights"
    for size in ("t", "s", "b"):
        enums[f"swin_{size}"] = f"Swin_{size.upper()}_Weights"
        enums[f"swin_v2_{size}"] = f"Swin_V2_{size.upper()}_Weights"
    for kind in ("x", "y"):  # regnet_y_128gf never had `pretrained` weights
        for flops in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf"):
            enums[f"regnet_{kind}_{flops}"] = f"RegNet_{kind.upper()}_{flops.upper()}_Weights"
    return {builder: f"{enum}.IMAGENET1K_V1" for builder, enum in enums.items()}


_RESNET50 = "ResNet50_Weights.IMAGENET1K_V1"
_RESNET101 = "ResNet101_Weights.IMAGENET1K_V1"
_MOBILENET = "MobileNet_V3_Large_Weights.IMAGENET1K_V1"

# Builder (``package.name``) -> (weights for pretrained=True, weights for pretrained_backbone=True).
# The backbone enums live in ``torchvision.models``.
WEIGHTS: dict[str, tuple[str | None, str | None]] = {
    **{name: (weights, None) for name, weights in _classification().items()},
    "detection.fasterrcnn_resnet50_fpn": ("FasterRCNN_ResNet50_FPN_Weights.COCO_V1", _RESNET50),
    "detection.fasterrcnn_resnet50_fpn_v2": (
        "FasterRCNN_ResNet50_FPN_V2_Weights.COCO_V1",
        _RESNET50,
    ),
    "detection.fasterrcnn_mobilenet_v3_large_fpn": (
        "FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1",
        _MOBILENET,
    ),
    "detection.fasterrcnn_mobilenet_v3_large_320_fpn": (
        "FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1",
        _MOBILENET,
    ),
    "detection.maskrcnn_resnet50_fpn": ("MaskRCNN_ResNet50_FPN_Weights.COCO_V1", _RESNET50),
    "detection.maskrcnn_resnet50_fpn_v2": ("MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1", _RESNET50),
    "detection.keypointrcnn_resnet50_fpn": (
        "KeypointRCNN_ResNet50_FPN_Weights.COCO_V1",
        _RESNET50,
    ),
    "detection.retinanet_resnet50_fpn": ("RetinaNet_ResNet50_FPN_Weights.COCO_V1", _RESNET50),
    "detection.retinanet_resnet50_fpn_v2": (
        "RetinaNet_ResNet50_FPN_V2_Weights.COCO_V1",
        _RESNET50,
    ),
    "detection.fcos_resnet50_fpn": ("FCOS_ResNet50_FPN_Weights.COCO_V1", _RESNET50),
    "detection.ssd300_vgg16": (
        "SSD300_VGG16_Weights.COCO_V1",
        "VGG16_Weights.IMAGENET1K_FEATURES",
    ),
    "detection.ssdlite320_mobilenet_v3_large": (
        "SSDLite320_MobileNet_V3_Large_Weights.COCO_V1",
        _MOBILENET,
    ),
    "segmentation.deeplabv3_resnet50": (
        "DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1",
        _RESNET50,
    ),
    "segmentation.deeplabv3_resnet101": (
        "DeepLabV3_ResNet101_Weights.COCO_WITH_VOC_LABELS_V1",
        _RESNET101,
    ),
    "segmentation.deeplabv3_mobilenet_v3_large": (
        "DeepLabV3_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1",
        _MOBILENET,
    ),
    "segmentation.fcn_resnet50": ("FCN_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1", _RESNET50),
    "segmentation.fcn_resnet101": ("FCN_ResNet101_Weights.COCO_WITH_VOC_LABELS_V1", _RESNET101),
    "segmentation.lraspp_mobilenet_v3_large": (
        "LRASPP_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1",
        _MOBILENET,
    ),
    "video.r3d_18": ("R3D_18_Weights.KINETICS400_V1", None),
    "video.mc3_18": ("MC3_18_Weights.KINETICS400_V1", None),
    "video.r2plus1d_18": ("R2Plus1D_18_Weights.KINETICS400_V1", None),
    "optical_flow.raft_large": ("Raft_Large_Weights.C_T_SKHT_V2", None),
    "optical_flow.raft_small": ("Raft_Small_Weights.C_T_V2", None),
}

_NEW_KEYWORD = {"pretrained": "weights", "pretrained_backbone": "weights_backbone"}


def builder_key(qualified: str) -> str | None:
    """``detection.fasterrcnn_resnet50_fpn`` for any module path torchvision exposes it under."""
    if not qualified.startswith("torchvision.models."):
        return None
    parts = qualified[len("torchvision.models.") :].split(".")
    package = parts[0] if len(parts) > 1 and parts[0] in _PACKAGES else ""
    return f"{package}.{parts[-1]}" if package else parts[-1]


def _literal_bool(expr: cst.BaseExpression) -> bool | None:
    if isinstance(expr, cst.Name) and expr.value in ("True", "False"):
        return expr.value == "True"
    return None


class TorchvisionPretrained(Rule):
    code = "TL303"
    name = "torchvision-pretrained"
    summary = (
        "torchvision model builder called with the deprecated `pretrained=` / "
        "`pretrained_backbone=` instead of `weights=` / `weights_backbone=`"
    )
    category = Category.DEPRECATED_API
    severity = Severity.WARNING
    precision = Precision.HIGH
    fix_applicability = Applicability.SAFE
    needles = ("torchvision",)

    def visit_Call(self, node: cst.Call) -> None:
        qualified = self.context.qualified_name(node.func)
        if qualified is None:
            return
        key = builder_key(qualified)
        if key is None:
            return
        known = WEIGHTS.get(key)
        keywords = {a.keyword.value: a for a in node.args if a.keyword is not None}
        old_args: list[tuple[str, cst.Arg]] = [
            (name, keywords[name])
            for name in ("pretrained", "pretrained_backbone")
            if name in keywords
        ]
        positional = [a for a in node.args if a.keyword is None and not a.star]
        if (
            not old_args
            and known is not None
            and not key.startswith("quantization.")
            and positional
            and _literal_bool(positional[0].value) is not None
        ):
            old_args = [
                ("pretrained", positional[0])
            ]  # ``resnet18(True)``: the old first parameter
        if not old_args:
            return
        builder = key.rsplit(".", 1)[-1]
        fix, shown = self._fix(node, qualified, known, old_args)
        olds = " and ".join(
            f"`{name}=`" if arg.keyword is not None else f"positional `{name}`"
            for name, arg in old_args
        )
        news = " / ".join(f"`{_NEW_KEYWORD[name]}=`" for name, _ in old_args)
        message = f"`{builder}(...)` with {olds}, deprecated since torchvision 0.13: pass {news}"
        if shown:
            message += f" ({shown})"
        self.report(node, message, fix=fix)

    def _fix(
        self,
        call: cst.Call,
        qualified: str,
        known: tuple[str | None, str | None] | None,
        old_args: list[tuple[str, cst.Arg]],
    ) -> tuple[FixPlan | None, str]:
        if known is None or any(a.star for a in call.args):
            return None, ""
        keywords = {a.keyword.value for a in call.args if a.keyword is not None}
        if keywords & {"weights", "weights_backbone"}:
            return None, ""
        version = self.context.torch_version
        if version is not None and version < _WEIGHTS_API_TORCH:
            return None, "not fixed: the weights API needs torchvision 0.13 (torch 1.12)"
        module = qualified.rsplit(".", 1)[0]
        root = (dotted_name(call.func) or "").split(".", 1)[0] or None
        replacements: dict[int, str] = {}
        imports: set[str] = set()
        shown: list[str] = []
        for name, arg in old_args:
            value = _literal_bool(arg.value)
            if value is None:
                weights = known[0] if name == "pretrained" else known[1]
                if weights is None:
                    return None, ""
                return None, f"for a flag: `{_NEW_KEYWORD[name]}={weights} if flag else None`"
            if arg.keyword is None and len([a for a in call.args if a.keyword is None]) != 1:
                return None, ""  # ``resnet18(True, False)``: more positional legacy parameters
            if not value:
                replacements[id(arg)] = f"{_NEW_KEYWORD[name]}=None"
                continue
            weights = known[0] if name == "pretrained" else known[1]
            if weights is None:
                return None, ""
            home = module if name == "pretrained" else "torchvision.models"
            spelled = spell(f"{home}.{weights}", self.facts.names, prefer=root)
            if spelled is None:
                return None, ""
            if spelled.needs_import:
                imports.add(spelled.needs_import)
            replacements[id(arg)] = f"{_NEW_KEYWORD[name]}={spelled.code}"
            shown.append(f"`{name}=True` loaded `{weights}`")
        new_args = []
        for arg in call.args:
            text = replacements.get(id(arg))
            if text is None:
                new_args.append(arg)
                continue
            keyword, spelled_value = text.split("=", 1)
            new_args.append(
                arg.with_changes(
                    keyword=cst.Name(keyword),
                    value=cst.parse_expression(spelled_value),
                    equal=cst.AssignEqual(
                        whitespace_before=cst.SimpleWhitespace(""),
                        whitespace_after=cst.SimpleWhitespace(""),
                    )
                    if arg.keyword is None
                    else arg.equal,
                )
            )
        changes: tuple[Change, ...] = (
            Replace(call, call.with_changes(args=new_args), self.context.block_indent()),
            *(AddImport(m) for m in sorted(imports)),
        )
        title = "Use " + ", ".join(f"`{t}`" for t in replacements.values())
        return FixPlan(title, Applicability.SAFE, changes), "; ".join(shown)
