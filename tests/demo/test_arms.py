"""The demo's arms: the frozen arm's cached scoring, and the test scores."""

import numpy as np

from keras_transfer.demo import arms, data
from keras_transfer.demo.backbones import Backbones
from keras_transfer.demo.config import DemoConfig


def test_frozen_arm_scored_on_cached_test_features_equals_the_whole_model(tmp_path):
    from keras_transfer.feature_cache._split_frozen import split_frozen

    config = DemoConfig(backbone_source="keras", cache_dir=str(tmp_path))
    backbones = Backbones(config)
    images, labels = data.load_mnist_5k()
    x_test, y_test = data.to_rgb(images[:64]), labels[:64]
    features = arms._frozen_test_features(backbones, x_test)  # built with seed 0
    assert features.reshape(64, -1).shape == (64, 4 * 4 * 256)
    # A frozen arm of another seed: same pretrained backbone, its own head.
    model = arms._build_model(backbones.make(True, seed=2), config.image_size, seed=2)
    model.layers[0].trainable = False
    logits = split_frozen(model)[1].predict(features, verbose=0)
    np.testing.assert_allclose(
        logits, model.predict(x_test, verbose=0), rtol=1e-4, atol=1e-4
    )
    assert arms._accuracy(split_frozen(model)[1], features, y_test) == arms._accuracy(
        model, x_test, y_test
    )


def test_solar_scores_on_a_known_confusion():
    # 6 defect-free cells, 2 each of p=1/3, 2/3, 1; predictions: all defect-free
    # right, one p=1/3 right, the p=2/3 cells called p=1, the p=1 cells right.
    y = np.array([0] * 6 + [1, 1, 2, 2, 3, 3])
    predicted = np.array([0] * 6 + [1, 0, 3, 3, 3, 3])
    scores = arms.scores(predicted, y, "solar")
    assert scores["accuracy"] == 9 / 12
    assert scores["accuracy_balanced"] == (1 + 0.5 + 0 + 1) / 4
    # functional (p < 1/2) vs defective: p=1/3 called p=0 and p=2/3 called p=1
    # are both on the right side.
    assert scores["accuracy_binary"] == 1.0
    assert arms.scores(predicted, y) == {"accuracy": 9 / 12}  # digits: accuracy only
