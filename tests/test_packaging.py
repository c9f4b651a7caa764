"""The package as a user installs it: sdist -> wheel -> a fresh venv outside the checkout.

Catches modules or data files missing from the wheel, and a console script
that does not start. The sdist and the wheel are built with `python -m build
--no-isolation` (this venv's setuptools: nothing downloaded) from a copy of
the tracked files, the wheel is built from the sdist (so the sdist is
complete too). The fresh venv sees this venv's site-packages through a
`.pth` file, for Keras and TensorFlow, and gets the wheel with `--no-deps`;
everything runs from a temporary directory, and the test checks that
`keras_transfer` comes from the new venv, not from the checkout.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
import venv

import pytest

import keras_transfer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SMOKE = """
import os, sys
import numpy as np
import keras
import keras_transfer as kt

assert kt.__file__.startswith(sys.prefix), (kt.__file__, sys.prefix)
backbone = keras.Sequential(
    [keras.Input((8,)), keras.layers.Dense(8, name="block1_dense"),
     keras.layers.Dense(8, name="block2_dense")], name="backbone")
backbone.trainable = False
model = keras.Sequential([backbone, keras.layers.Dense(1, name="head")])
model.compile(
    optimizer=kt.optimizers.LayerwiseLR(keras.optimizers.SGD(0.01), decay=0.5, model=model),
    loss="mse")
x = np.random.default_rng(0).random((16, 8)).astype("float32")
history = model.fit(x, x[:, :1], epochs=3, verbose=0,
                    callbacks=[kt.callbacks.GradualUnfreeze(verbose=0)])
assert history.history["trainable_weights"] == [2, 4, 6], history.history
print("smoke ok", kt.__version__, os.path.dirname(kt.__file__))
"""


def _run(argv, **kwargs):
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, (
        f"{argv}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result


@pytest.mark.slow
def test_wheel_installs_and_runs_outside_the_checkout(tmp_path):
    # A copy of the tracked files: building writes egg-info beside the sources.
    files = _run(["git", "ls-files", "-z"], cwd=ROOT).stdout.split("\0")
    source = tmp_path / "source"
    for name in filter(None, files):
        if os.path.isfile(os.path.join(ROOT, name)):
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.join(ROOT, name), source / name)
    dist = tmp_path / "dist"
    _run(
        [
            sys.executable,
            "-m",
            "build",
            "--no-isolation",
            "--outdir",
            str(dist),
            str(source),
        ]
    )
    version = keras_transfer.__version__
    wheels = list(dist.glob(f"keras_transfer-{version}-*.whl"))
    assert len(wheels) == 1 and (dist / f"keras_transfer-{version}.tar.gz").exists()

    env_dir = tmp_path / "fresh venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
    )
    with open(os.path.join(site.stdout.strip(), "test_venv.pth"), "w") as pth:
        pth.write(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
          "--no-index", "-q", str(wheels[0])])  # fmt: skip

    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    script = env_dir / "bin" / "keras-transfer"
    version_line = _run([str(script), "--version"], cwd=run_dir, env=env).stdout
    assert version_line.strip() == f"keras-transfer {version}"
    assert "predict" in _run([str(script), "--help"], cwd=run_dir, env=env).stdout
    smoke = _run([str(python), "-c", SMOKE], cwd=run_dir, env=env).stdout
    assert f"smoke ok {version} {env_dir}" in smoke
    # Every module of the checkout's package is in the wheel.
    listing = _run([str(python), "-c", (
        "import os, keras_transfer as kt; root = os.path.dirname(kt.__file__); "
        "print('\\n'.join(sorted(os.path.relpath(os.path.join(d, f), root) "
        "for d, _, fs in os.walk(root) for f in fs if f.endswith('.py'))))"
    )], cwd=run_dir, env=env).stdout.split()  # fmt: skip
    package = os.path.join(ROOT, "keras_transfer")
    tracked = sorted(
        os.path.relpath(os.path.join(ROOT, name), package)
        for name in files
        if name.startswith("keras_transfer/")
        and name.endswith(".py")
        and os.path.isfile(os.path.join(ROOT, name))
    )
    assert listing == tracked
