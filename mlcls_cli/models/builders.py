"""One builder per zoo model: ``(num_classes) -> paddle.nn.Layer`` mapping float32 NCHW images to logits.

The registry names these functions by dotted path; each imports its backbone
lazily so that importing this module stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from paddle import nn


def build_pp_lcnet_x1_0_ml(num_classes: int = 80) -> nn.Layer:
    """PP-LCNet_x1_0_ML: PP-LCNet x1.0 with an ML-Decoder head."""
    from mlcls_cli.models.backbones.pp_lcnet import build_pp_lcnet_ml

    return build_pp_lcnet_ml("x1_0", class_num=num_classes)


def build_pp_hgnetv2_b0_ml(num_classes: int = 80) -> nn.Layer:
    """PP-HGNetV2-B0_ML: PP-HGNetV2-B0 with an ML-Decoder head."""
    from mlcls_cli.models.backbones.pp_hgnet_v2 import build_pp_hgnetv2_ml

    return build_pp_hgnetv2_ml("B0", class_num=num_classes)


def build_pp_hgnetv2_b4_ml(num_classes: int = 80) -> nn.Layer:
    """PP-HGNetV2-B4_ML: PP-HGNetV2-B4 with an ML-Decoder head."""
    from mlcls_cli.models.backbones.pp_hgnet_v2 import build_pp_hgnetv2_ml

    return build_pp_hgnetv2_ml("B4", class_num=num_classes)


def build_pp_hgnetv2_b6_ml(num_classes: int = 80) -> nn.Layer:
    """PP-HGNetV2-B6_ML: PP-HGNetV2-B6 with an ML-Decoder head."""
    from mlcls_cli.models.backbones.pp_hgnet_v2 import build_pp_hgnetv2_ml

    return build_pp_hgnetv2_ml("B6", class_num=num_classes)


def build_resnet50_ml(num_classes: int = 80) -> nn.Layer:
    """ResNet50_ML: ResNet50 (vb) with an ML-Decoder head."""
    from mlcls_cli.models.backbones.resnet import build_resnet50_ml as build

    return build(num_classes)


def build_clip_vit_base_patch16_448_ml(num_classes: int = 80) -> nn.Layer:
    """CLIP_vit_base_patch16_448_ML: CLIP ViT-B/16 at 448 px with an ML-Decoder head."""
    from mlcls_cli.models.backbones.clip_vit import build_clip_vit_base_patch16_448_ml as build

    return build(num_classes)


def build_small_cnn_ml(num_classes: int = 80) -> nn.Layer:
    """SmallCNN_ML: mlcls's own small CNN with a linear head (sigmoid scores for multi-label)."""
    from mlcls_cli.models.backbones.small_cnn import build_small_cnn

    return build_small_cnn(num_classes)
