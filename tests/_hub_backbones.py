"""Tiny keras-hub and keras-cv backbones built from constructor arguments.

Random weights, nothing downloaded. Each builder skips the calling test (with
the reason) when its package does not import.
"""

from __future__ import annotations

import pytest


def keras_hub():
    """The `keras_hub` module, or a skip naming why it is unavailable."""
    return pytest.importorskip("keras_hub", reason="keras-hub is not installed")


def keras_cv():
    """The `keras_cv` module, or a skip naming why it does not import.

    keras-cv 0.9 needs `dm-tree` and `tensorflow-datasets` to import (README:
    "keras-hub and keras-cv backbones" has the lean install line).
    """
    try:
        import keras_cv as module
    except Exception as error:  # noqa: BLE001 - any import failure is a skip
        pytest.skip(f"keras-cv does not import here: {error}")
    return module


def vit(num_layers: int = 3):
    """keras-hub ViT: 16x16 images, 4x4 patches, `num_layers` blocks."""
    return keras_hub().models.ViTBackbone(
        image_shape=(16, 16, 3),
        patch_size=4,
        num_layers=num_layers,
        num_heads=2,
        hidden_dim=8,
        mlp_dim=16,
    )


def bert(num_layers: int = 3):
    """keras-hub BERT: vocabulary 20, sequences of 8 tokens."""
    return keras_hub().models.BertBackbone(
        vocabulary_size=20,
        num_layers=num_layers,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=8,
    )


def hub_resnet():
    """keras-hub ResNet with bottleneck blocks: two stacks of two blocks (keras-hub requires 64 filters first)."""
    return keras_hub().models.ResNetBackbone(
        input_conv_filters=[8],
        input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64, 8],
        stackwise_num_blocks=[2, 2],
        stackwise_num_strides=[1, 2],
        block_type="bottleneck_block",
        image_shape=(16, 16, 3),
    )


def hub_mobilenet():
    """keras-hub MobileNet (V3 blocks, squeeze-excite in the second stack)."""
    return keras_hub().models.MobileNetBackbone(
        stackwise_expansion=[[16, 24], [32, 32]],
        stackwise_num_blocks=[2, 2],
        stackwise_num_filters=[[8, 8], [16, 16]],
        stackwise_kernel_size=[[3, 3], [3, 3]],
        stackwise_num_strides=[[2, 1], [2, 1]],
        stackwise_se_ratio=[[None, None], [0.25, 0.25]],
        stackwise_activation=[["relu", "relu"], ["hard_swish", "hard_swish"]],
        stackwise_padding=[[1, 1], [1, 1]],
        output_num_filters=32,
        depthwise_filters=8,
        depthwise_stride=2,
        depthwise_residual=False,
        last_layer_filter=32,
        squeeze_and_excite=0.5,
        image_shape=(32, 32, 3),
    )


def cv_resnet_v2():
    """keras-cv ResNetV2: two stacks of two basic blocks."""
    return keras_cv().models.ResNetV2Backbone(
        stackwise_filters=[4, 8],
        stackwise_blocks=[2, 2],
        stackwise_strides=[1, 2],
        include_rescaling=False,
        input_shape=(16, 16, 3),
    )


def cv_efficientnet_v2():
    """keras-cv EfficientNetV2: a fused and an unfused (squeeze-excite) stage."""
    return keras_cv().models.EfficientNetV2Backbone(
        include_rescaling=False,
        width_coefficient=0.25,
        depth_coefficient=1.0,
        stackwise_kernel_sizes=[3, 3],
        stackwise_num_repeats=[1, 2],
        stackwise_input_filters=[32, 32],
        stackwise_output_filters=[32, 64],
        stackwise_expansion_ratios=[1, 4],
        stackwise_squeeze_and_excite_ratios=[0, 0.25],
        stackwise_strides=[1, 2],
        stackwise_conv_types=["fused", "unfused"],
        input_shape=(16, 16, 3),
    )


def cv_mobilenet_v3():
    """keras-cv MobileNetV3: two blocks, the second with squeeze-excite."""
    return keras_cv().models.MobileNetV3Backbone(
        stackwise_expansion=[1, 4],
        stackwise_filters=[8, 8],
        stackwise_kernel_size=[3, 3],
        stackwise_stride=[2, 1],
        stackwise_se_ratio=[None, 0.25],
        stackwise_activation=["relu", "hard_swish"],
        include_rescaling=False,
        input_shape=(16, 16, 3),
    )
