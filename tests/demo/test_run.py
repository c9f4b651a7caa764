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
