import keras
import numpy as np
import pytest

from keras_transfer.data import make_dataset
from keras_transfer.throughput import effective_settings, select_precision


def _model(*front, out_dtype=None):
    return keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            *front,
            keras.layers.Flatten(),
            keras.layers.Dense(1, dtype=out_dtype),
        ]
    )


def test_augmentation_layer_switches_xla_off_and_warns():
    model = _model(keras.layers.RandomRotation(0.1, name="rot"))
    with pytest.warns(UserWarning):  # Keras's own "Proceeding with jit_compile=False"
        model.compile(optimizer="sgd", loss="mse", jit_compile=True)
    with pytest.warns(UserWarning, match="HINT: move augmentation") as record:
        settings = effective_settings(model)
    assert settings["jit_compile"] is False
    assert settings["no_jit_layers"] == ["rot (RandomRotation)"]
    assert "rot (RandomRotation)" in str(record[0].message)
    assert len(settings["problems"]) == 1


def test_fix_moves_augmentation_into_the_pipeline_and_xla_stays_on():
    model = _model()
    model.compile(optimizer="sgd", loss="mse", jit_compile=True)
    settings = effective_settings(model, expected=select_precision("float32", True))
    assert settings["jit_compile"] is True
    assert settings["problems"] == []
    ds = make_dataset(
        np.zeros((16, 16, 16, 3), "float32"),
        np.zeros((16, 1), "float32"),
        batch_size=8,
        augment=keras.layers.RandomRotation(0.1),
    )
    history = model.fit(ds, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize("out_dtype,problems", [(None, 1), ("float32", 0)])
def test_output_layer_must_be_float32_under_mixed(out_dtype, problems):
    select_precision("mixed_bfloat16", jit_compile=False).apply()
    model = _model(out_dtype=out_dtype)
    model.compile(optimizer="sgd", loss="mse", jit_compile=False)
    settings = effective_settings(model, warn=False)
    assert len(settings["problems"]) == problems
    expected = "float32" if out_dtype else "bfloat16"
    assert settings["output_dtypes"] == [expected]
    if problems:
        assert 'dtype="float32"' in settings["problems"][0]


def test_mismatch_with_expected_choice_is_reported():
    model = _model()
    model.compile(optimizer="sgd", loss="mse", jit_compile=False)
    expected = select_precision("mixed_bfloat16", jit_compile=False)
    settings = effective_settings(model, expected=expected, warn=False)
    assert any("`policy` is 'float32'" in p for p in settings["problems"])


def test_uncompiled_model_is_an_error():
    with pytest.raises(ValueError, match="must be compiled"):
        effective_settings(_model())
    with pytest.raises(TypeError, match="`model`"):
        effective_settings("model")
