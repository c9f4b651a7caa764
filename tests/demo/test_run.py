"""`run_demo`: settings it cannot serve fail first; the harness stands below the cli."""

import os
import subprocess
import sys

import pytest

from keras_transfer import demo


def test_unknown_arm_and_too_many_labels_are_settings_errors(tmp_path):
    config = demo.DemoConfig(backbone_source="keras", cache_dir=str(tmp_path))
    with pytest.raises(
        demo.DemoSettingsError, match=r"`arms`.*Received: arms=\['magic'\]"
    ):
        demo.run_demo(config, ("frozen", "magic"))
    # 1,000 test digits leave 400 per class in the pool: k=600 cannot be served.
    with pytest.raises(demo.DemoSettingsError, match=r"`ks`.*`k` must be at most 400"):
        demo.run_demo(
            demo.DemoConfig(
                backbone_source="keras", cache_dir=str(tmp_path), ks=(600,)
            ),
            ("frozen",),
        )
    assert issubclass(demo.DemoSettingsError, ValueError)


def test_the_demo_and_applications_never_import_the_cli():
    code = (
        "import sys, keras_transfer.demo, keras_transfer.applications._vgg16_hed\n"
        "print(sorted(m for m in sys.modules if m.startswith('keras_transfer.cli')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    ).stdout  # fmt: skip
    assert out.strip().splitlines()[-1] == "[]"


@pytest.mark.slow
def test_the_recipe_arm_runs_kt_fine_tune(tmp_path, monkeypatch):
    from keras_transfer.demo import arms

    calls = []
    real = arms.fine_tune

    def spy(model, x, y, **kwargs):
        calls.append((len(x), kwargs["seed"]))
        return real(model, x, y, **kwargs)

    monkeypatch.setattr(arms, "fine_tune", spy)
    config = demo.DemoConfig(
        backbone_source="keras", cache_dir=str(tmp_path), ks=(2,), seeds=(1,),
        num_test=50, image_size=32,
    )  # fmt: skip
    results = demo.run_demo(config, ("recipe",))
    (run,) = results["runs"]
    assert calls == [(2 * 10, 1)]  # k=2 of each of 10 digits, the cell's seed
    assert run["arm"] == "recipe" and run["k"] == 2
    # 50 test digits: the accuracy is a count of them
    assert run["accuracy"] * 50 == pytest.approx(round(run["accuracy"] * 50))
    assert "| 2 | recipe |" in demo.markdown_table(results)
