"""The 80 single-label image classification models of PaddleX (seed 004) as registry entries.

One row per model: family, builder variant, ImageNet top-1 (%), the "Model Size" of
PaddleX's list, parameters (numel of the full state_dict at 1000 classes), the input
(PaddleX's inference preprocessing: resize the short side, then a centre crop; ``pil``
bicubic or ``cv2`` bilinear), the classifier's input width, and PaddleX's module batch
size and learning rate (each family's recipe uses them with its own optimizer, most
with momentum SGD). Plain data: no paddle here.
"""

from __future__ import annotations

from mlcls_cli.models.registry import TASK_CLS, ModelInfo

_B = "mlcls_cli.models.backbones."

#: family -> (builder "module:function", description)
FAMILIES = {
    "PP-LCNet": (
        _B + "pp_lcnet:build_pp_lcnet",
        "PP-LCNet: Baidu's lightweight CPU network (depthwise blocks, SE, hard-swish).",
    ),
    "PP-LCNetV2": (
        _B + "pp_lcnet_v2:build_pp_lcnet_v2",
        "PP-LCNetV2: re-parameterised depthwise blocks, faster on Intel CPUs.",
    ),
    "PP-HGNetV2": (
        _B + "pp_hgnet_v2:build_pp_hgnetv2",
        "PP-HGNetV2: Baidu's GPU-friendly high-performance network.",
    ),
    "PP-HGNet": (
        _B + "pp_hgnet:build_pp_hgnet",
        "PP-HGNet: the first high-performance GPU network of Baidu.",
    ),
    "ResNet": (
        _B + "resnet:build_resnet",
        "ResNet: residual networks (vb), and the vd variants with a deeper stem.",
    ),
    "MobileNetV1": (_B + "mobilenet_v1:build_mobilenet_v1", "MobileNetV1: depthwise separable convolutions."),
    "MobileNetV2": (
        _B + "mobilenet_v2:build_mobilenet_v2",
        "MobileNetV2: inverted residuals with linear bottlenecks.",
    ),
    "MobileNetV3": (
        _B + "mobilenet_v3:build_mobilenet_v3",
        "MobileNetV3: searched blocks with SE and hard-swish.",
    ),
    "MobileNetV4": (
        _B + "mobilenet_v4:build_mobilenet_v4",
        "MobileNetV4: universal inverted bottlenecks (and attention in hybrids).",
    ),
    "ConvNeXt": (
        _B + "convnext:build_convnext",
        "ConvNeXt: a convolutional network modernised after vision transformers.",
    ),
    "FasterNet": (_B + "fasternet:build_fasternet", "FasterNet: partial convolutions for high throughput."),
    "StarNet": (
        _B + "starnet:build_starnet",
        "StarNet: element-wise multiplication ('star') blocks, very light.",
    ),
    "SwinTransformer": (
        _B + "swin_transformer:build_swin_transformer",
        "Swin Transformer: shifted-window attention.",
    ),
    "CLIP-ViT": (_B + "clip_vit:build_clip_vit_cls", "CLIP vision transformer fine-tuned on ImageNet-1k."),
}

# name, family, variant, top-1 %, size MB, total params, resize_short, crop, resampler, head in, batch, lr
_ROWS: tuple[tuple[str, str, str, float, float, int, int, int, str, int, int, float], ...] = (
    ("CLIP_vit_base_patch16_224", "CLIP-ViT", "base_patch16_224", 85.36, 306.5, 86_961_640, 256, 224, "cv2", 768, 32, 3e-4),
    ("CLIP_vit_large_patch14_224", "CLIP-ViT", "large_patch14_224", 88.1, 1040.0, 304_729_064, 256, 224, "cv2", 1024, 16, 3e-4),
    ("ConvNeXt_base_224", "ConvNeXt", "base_224", 83.84, 313.9, 88_591_464, 256, 224, "pil", 1024, 32, 0.002),
    ("ConvNeXt_base_384", "ConvNeXt", "base_384", 84.90, 313.9, 88_591_464, 384, 384, "pil", 1024, 32, 0.002),
    ("ConvNeXt_large_224", "ConvNeXt", "large_224", 84.26, 700.7, 197_767_336, 256, 224, "pil", 1536, 16, 0.001),
    ("ConvNeXt_large_384", "ConvNeXt", "large_384", 85.27, 700.7, 197_767_336, 384, 384, "pil", 1536, 8, 0.001),
    ("ConvNeXt_small", "ConvNeXt", "small", 83.13, 178.0, 50_223_688, 256, 224, "pil", 768, 64, 0.004),
    ("ConvNeXt_tiny", "ConvNeXt", "tiny", 82.03, 104.1, 28_589_128, 256, 224, "pil", 768, 32, 0.003),
    ("FasterNet-L", "FasterNet", "L", 83.5, 357.1, 93_553_128, 248, 224, "pil", 1280, 64, 3e-3),
    ("FasterNet-M", "FasterNet", "M", 83.0, 204.6, 53_587_416, 248, 224, "pil", 1280, 64, 3e-3),
    ("FasterNet-S", "FasterNet", "S", 81.3, 119.3, 31_222_248, 248, 224, "pil", 1280, 128, 3e-3),
    ("FasterNet-T0", "FasterNet", "T0", 71.9, 15.1, 3_915_180, 248, 224, "pil", 1280, 128, 3e-3),
    ("FasterNet-T1", "FasterNet", "T1", 75.9, 29.2, 7_610_856, 248, 224, "pil", 1280, 128, 3e-3),
    ("FasterNet-T2", "FasterNet", "T2", 79.1, 57.4, 15_006_120, 248, 224, "pil", 1280, 128, 3e-3),
    ("MobileNetV1_x0_25", "MobileNetV1", "x0_25", 51.4, 1.8, 475_544, 256, 224, "cv2", 256, 64, 0.1),
    ("MobileNetV1_x0_5", "MobileNetV1", "x0_5", 63.5, 4.8, 1_342_536, 256, 224, "cv2", 512, 64, 0.1),
    ("MobileNetV1_x0_75", "MobileNetV1", "x0_75", 68.8, 9.3, 2_601_976, 256, 224, "cv2", 768, 64, 0.1),
    ("MobileNetV1_x1_0", "MobileNetV1", "x1_0", 71.0, 15.2, 4_253_864, 256, 224, "cv2", 1024, 64, 0.1),
    ("MobileNetV2_x0_25", "MobileNetV2", "x0_25", 53.2, 5.5, 1_527_856, 256, 224, "cv2", 1280, 256, 0.13),
    ("MobileNetV2_x0_5", "MobileNetV2", "x0_5", 65.0, 7.1, 1_984_104, 256, 224, "cv2", 1280, 256, 0.13),
    ("MobileNetV2_x1_0", "MobileNetV2", "x1_0", 72.2, 12.6, 3_540_136, 256, 224, "cv2", 1280, 256, 0.13),
    ("MobileNetV2_x1_5", "MobileNetV2", "x1_5", 74.1, 25.0, 6_903_976, 256, 224, "cv2", 1920, 128, 0.13),
    ("MobileNetV2_x2_0", "MobileNetV2", "x2_0", 75.2, 41.2, 11_330_664, 256, 224, "cv2", 2560, 128, 0.13),
    ("MobileNetV3_large_x0_35", "MobileNetV3", "large_x0_35", 64.3, 7.5, 2_112_920, 256, 224, "cv2", 1280, 128, 0.13),
    ("MobileNetV3_large_x0_5", "MobileNetV3", "large_x0_5", 69.2, 9.6, 2_685_790, 256, 224, "cv2", 1280, 128, 0.13),
    ("MobileNetV3_large_x0_75", "MobileNetV3", "large_x0_75", 73.1, 14.0, 3_930_696, 256, 224, "cv2", 1280, 128, 0.13),
    ("MobileNetV3_large_x1_0", "MobileNetV3", "large_x1_0", 75.3, 19.5, 5_504_638, 256, 224, "cv2", 1280, 128, 0.13),
    ("MobileNetV3_large_x1_25", "MobileNetV3", "large_x1_25", 76.4, 26.5, 7_473_948, 256, 224, "cv2", 1280, 128, 0.13),
    ("MobileNetV3_small_x0_35", "MobileNetV3", "small_x0_35", 53.0, 6.0, 1_670_226, 256, 224, "cv2", 1280, 256, 0.13),
    ("MobileNetV3_small_x0_5", "MobileNetV3", "small_x0_5", 59.2, 6.8, 1_908_696, 256, 224, "cv2", 1280, 256, 0.13),
    ("MobileNetV3_small_x0_75", "MobileNetV3", "small_x0_75", 66.0, 8.5, 2_384_338, 256, 224, "cv2", 1280, 256, 0.13),
    ("MobileNetV3_small_x1_0", "MobileNetV3", "small_x1_0", 68.2, 10.5, 2_952_102, 256, 224, "cv2", 1280, 256, 0.13),
    ("MobileNetV3_small_x1_25", "MobileNetV3", "small_x1_25", 70.7, 13.0, 3_642_650, 256, 224, "cv2", 1280, 256, 0.13),
    ("MobileNetV4_conv_large", "MobileNetV4", "conv_large", 83.4, 125.2, 32_740_416, 448, 448, "pil", 1280, 64, 0.13),
    ("MobileNetV4_conv_medium", "MobileNetV4", "conv_medium", 79.9, 37.6, 9_783_416, 320, 320, "pil", 1280, 128, 0.13),
    ("MobileNetV4_conv_small", "MobileNetV4", "conv_small", 74.6, 14.7, 3_799_112, 256, 256, "pil", 1280, 128, 0.13),
    ("MobileNetV4_hybrid_large", "MobileNetV4", "hybrid_large", 83.8, 145.1, 37_929_024, 448, 448, "pil", 1280, 64, 0.13),
    ("MobileNetV4_hybrid_medium", "MobileNetV4", "hybrid_medium", 80.5, 42.9, 11_150_488, 256, 256, "pil", 1280, 64, 0.13),
    ("PP-HGNetV2-B0", "PP-HGNetV2", "B0", 77.77, 21.4, 6_008_822, 232, 224, "pil", 2048, 64, 0.05),
    ("PP-HGNetV2-B1", "PP-HGNetV2", "B1", 79.18, 22.6, 6_357_246, 232, 224, "pil", 2048, 64, 0.05),
    ("PP-HGNetV2-B2", "PP-HGNetV2", "B2", 81.74, 39.9, 11_248_052, 232, 224, "pil", 2048, 64, 0.05),
    ("PP-HGNetV2-B3", "PP-HGNetV2", "B3", 82.98, 57.9, 16_326_816, 232, 224, "pil", 2048, 64, 0.05),
    ("PP-HGNetV2-B4", "PP-HGNetV2", "B4", 83.57, 70.4, 19_842_376, 232, 224, "pil", 2048, 64, 0.05),
    ("PP-HGNetV2-B5", "PP-HGNetV2", "B5", 84.75, 140.8, 39_662_984, 232, 224, "pil", 2048, 64, 0.05),
    ("PP-HGNetV2-B6", "PP-HGNetV2", "B6", 86.30, 268.4, 75_423_192, 232, 224, "pil", 2048, 64, 0.05),
    ("PP-HGNet_base", "PP-HGNet", "base", 85.0, 249.4, 71_624_584, 236, 224, "pil", 2048, 64, 0.25),
    ("PP-HGNet_small", "PP-HGNet", "small", 81.51, 86.5, 24_381_864, 236, 224, "pil", 2048, 64, 0.25),
    ("PP-HGNet_tiny", "PP-HGNet", "tiny", 79.83, 52.4, 14_750_904, 232, 224, "pil", 2048, 64, 0.25),
    ("PP-LCNetV2_base", "PP-LCNetV2", "base", 77.05, 23.7, 6_841_192, 256, 224, "cv2", 1280, 500, 0.8),
    ("PP-LCNetV2_large", "PP-LCNetV2", "large", 78.51, 37.3, 10_779_400, 256, 224, "cv2", 1280, 250, 0.4),
    ("PP-LCNetV2_small", "PP-LCNetV2", "small", 73.97, 14.6, 4_217_160, 256, 224, "cv2", 1280, 500, 0.8),
    ("PP-LCNet_x0_25", "PP-LCNet", "x0_25", 51.86, 5.5, 1_523_936, 256, 224, "cv2", 1280, 256, 0.1),
    ("PP-LCNet_x0_35", "PP-LCNet", "x0_35", 58.09, 5.9, 1_646_930, 256, 224, "cv2", 1280, 256, 0.1),
    ("PP-LCNet_x0_5", "PP-LCNet", "x0_5", 63.14, 6.7, 1_885_048, 256, 224, "cv2", 1280, 256, 0.1),
    ("PP-LCNet_x0_75", "PP-LCNet", "x0_75", 68.18, 8.4, 2_365_232, 256, 224, "cv2", 1280, 256, 0.1),
    ("PP-LCNet_x1_0", "PP-LCNet", "x1_0", 71.32, 10.5, 2_963_464, 256, 224, "cv2", 1280, 256, 0.1),
    ("PP-LCNet_x1_5", "PP-LCNet", "x1_5", 73.71, 16.0, 4_516_248, 256, 224, "cv2", 1280, 128, 0.1),
    ("PP-LCNet_x2_0", "PP-LCNet", "x2_0", 75.18, 23.2, 6_543_400, 256, 224, "cv2", 1280, 128, 0.1),
    ("PP-LCNet_x2_5", "PP-LCNet", "x2_5", 76.60, 32.1, 9_044_920, 256, 224, "cv2", 1280, 128, 0.1),
    ("ResNet101", "ResNet", "101", 77.6, 158.4, 44_654_504, 256, 224, "cv2", 2048, 64, 0.1),
    ("ResNet101_vd", "ResNet", "101_vd", 80.2, 158.4, 44_673_864, 256, 224, "cv2", 2048, 64, 0.1),
    ("ResNet152", "ResNet", "152", 78.3, 214.2, 60_344_232, 256, 224, "cv2", 2048, 64, 0.1),
    ("ResNet152_vd", "ResNet", "152_vd", 80.6, 214.3, 60_363_592, 256, 224, "cv2", 2048, 64, 0.1),
    ("ResNet18", "ResNet", "18", 71.0, 41.5, 11_703_464, 256, 224, "cv2", 512, 64, 0.1),
    ("ResNet18_vd", "ResNet", "18_vd", 72.3, 41.5, 11_722_824, 256, 224, "cv2", 512, 64, 0.1),
    ("ResNet200_vd", "ResNet", "200_vd", 80.9, 266.0, 74_933_064, 256, 224, "cv2", 2048, 64, 0.1),
    ("ResNet34", "ResNet", "34", 74.6, 77.3, 21_819_048, 256, 224, "cv2", 512, 64, 0.1),
    ("ResNet34_vd", "ResNet", "34_vd", 76.0, 77.3, 21_838_408, 256, 224, "cv2", 512, 64, 0.1),
    ("ResNet50", "ResNet", "50", 76.5, 90.8, 25_610_152, 256, 224, "cv2", 2048, 64, 0.1),
    ("ResNet50_vd", "ResNet", "50_vd", 79.1, 90.8, 25_629_512, 256, 224, "cv2", 2048, 64, 0.1),
    ("StarNet-S1", "StarNet", "S1", 73.6, 11.2, 2_876_288, 256, 224, "pil", 192, 128, 3e-3),
    ("StarNet-S2", "StarNet", "S2", 74.8, 14.3, 3_689_320, 256, 224, "pil", 256, 128, 3e-3),
    ("StarNet-S3", "StarNet", "S3", 77.0, 22.2, 5_761_288, 256, 224, "pil", 256, 128, 3e-3),
    ("StarNet-S4", "StarNet", "S4", 79.0, 28.9, 7_496_680, 256, 224, "pil", 256, 128, 3e-3),
    ("SwinTransformer_base_patch4_window12_384", "SwinTransformer", "base_patch4_window12_384", 84.17, 311.4, 88_401_248, 438, 384, "pil", 1024, 8, 0.0015),
    ("SwinTransformer_base_patch4_window7_224", "SwinTransformer", "base_patch4_window7_224", 83.37, 310.5, 87_825_848, 256, 224, "pil", 1024, 32, 0.0015),
    ("SwinTransformer_large_patch4_window12_384", "SwinTransformer", "large_patch4_window12_384", 87.06, 696.1, 197_233_180, 438, 384, "pil", 1536, 8, 0.0015),
    ("SwinTransformer_large_patch4_window7_224", "SwinTransformer", "large_patch4_window7_224", 86.19, 694.8, 196_590_100, 256, 224, "pil", 1536, 8, 0.0015),
    ("SwinTransformer_small_patch4_window7_224", "SwinTransformer", "small_patch4_window7_224", 83.21, 175.6, 49_663_882, 256, 224, "pil", 768, 64, 0.003),
    ("SwinTransformer_tiny_patch4_window7_224", "SwinTransformer", "tiny_patch4_window7_224", 81.10, 100.1, 28_317_166, 256, 224, "pil", 768, 64, 0.003),
)  # fmt: skip


def single_label_models() -> list[ModelInfo]:
    """The 80 single-label entries, in PaddleX's list order."""
    models = []
    for name, family, variant, top1, size_mb, params, short, crop, resampler, head_in, batch, lr in _ROWS:
        builder, description = FAMILIES[family]
        models.append(
            ModelInfo(
                name=name,
                family=family,
                builder=builder,
                in_channels=head_in,
                coco_map=None,
                size_mb=size_mb,
                total_params=params,
                batch_size=batch,
                learning_rate=lr,
                paddlex_learning_rate=lr,
                description=description,
                input_size=crop,
                task=TASK_CLS,
                top1=top1,
                resize_short=short,
                resize_backend=resampler,
                interpolation="bicubic" if resampler == "pil" else "bilinear",
                builder_kwargs=(("variant", variant),),
            )
        )
    return models


__all__ = ["FAMILIES", "single_label_models"]
