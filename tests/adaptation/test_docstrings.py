"""The `Example:` blocks of the public adaptation API run and give what they show."""

import doctest
import importlib

import keras
import pytest

MODULES = [
    "adabn_report",
    "adapt_batchnorm",
    "build_dann",
    "dann_data",
    "gradient_reversal",
    "label_free_score",
    "tent",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    module = importlib.import_module(f"keras_transfer.adaptation.{name}")
    keras.utils.set_random_seed(0)
    failures, attempted = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    assert attempted > 0
    assert failures == 0
