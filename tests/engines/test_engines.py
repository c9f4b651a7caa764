"""Keras's own scale-out engines, each against one device fed the same batches.

Every run starts fresh interpreters (device counts must be set before a
backend starts; processes must join a job), on CPUs only:

- `tf.distribute.MirroredStrategy` over 2 logical CPUs and
  `keras.distribution.DataParallel` over 2 virtual CPU devices
  (`_single_host.py`): LayerwiseLR + GradualUnfreeze, fit_cached_head,
  GradientReversal, adapt_batchnorm, Tent and (TF) HubBackbone end at the
  one-device weights.
- 2 JAX processes on 127.0.0.1 through `keras.distribution.initialize`
  (`_multi_process.py`), each feeding its half of every global batch, end at
  the weights of one process fed the whole batches.
- `tf.distribute.MultiWorkerMirroredStrategy` on 2 loopback workers still
  fails in Keras 3 (`_multi_worker_tf.py`, keras-team/keras#20585).

Each engine runs in the pytest pass of its backend (Keras has no
distribution engine for PyTorch).
"""

import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 420


def _env(backend, **extra):
    env = dict(os.environ, KERAS_BACKEND=backend, **extra)
    env.pop("TF_CONFIG", None)
    return env


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _run_all(commands, env):
    """Starts every command at once; returns their (returncode, output)."""
    processes = [
        subprocess.Popen(
            [sys.executable, *c],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for c in commands
    ]
    try:
        return [(p.wait(timeout=TIMEOUT), p.stdout.read()) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()


def _needs(backend):
    if keras.backend.backend() != backend:
        pytest.skip(
            f"runs in the {backend} pass (Keras's engine for it); running on "
            f"{keras.backend.backend()}"
        )


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_two_devices_end_at_the_single_device_weights(backend):
    _needs(backend)
    env = _env(backend, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    ((code, output),) = _run_all([[os.path.join(HERE, "_single_host.py")]], env)
    assert code == 0 and "OK 2" in output, output[-4000:]


@pytest.mark.slow
def test_two_jax_processes_end_at_the_one_process_weights(tmp_path):
    _needs("jax")
    port = _free_ports(1)[0]
    script = os.path.join(HERE, "_multi_process.py")
    outs = [tmp_path / f"{name}.npz" for name in ("w0", "w1", "single")]
    results = _run_all(
        [
            [script, "worker", "0", str(port), str(outs[0])],
            [script, "worker", "1", str(port), str(outs[1])],
            [script, "single", str(outs[2])],
        ],
        _env("jax"),
    )
    for code, output in results:
        assert code == 0 and "OK" in output, output[-4000:]
    w0, w1, single = (np.load(p) for p in outs)
    assert len(w0.files) == 6
    for key in w0.files:
        np.testing.assert_array_equal(w0[key], w1[key])  # one replicated model
        np.testing.assert_allclose(w0[key], single[key], rtol=0, atol=1e-6)


@pytest.mark.slow
def test_tf_multi_worker_mirrored_strategy_still_fails_in_keras_3():
    _needs("tensorflow")
    ports = [str(p) for p in _free_ports(2)]
    script = os.path.join(HERE, "_multi_worker_tf.py")
    results = _run_all(
        [[script, "0", *ports], [script, "1", *ports]], _env("tensorflow")
    )
    if all(code == 0 for code, _ in results):
        pytest.fail(
            "MultiWorkerMirroredStrategy works with this Keras now "
            f"({keras.__version__}): update README 'Scaling out' (TF multi-worker) "
            "and turn this into a LayerwiseLR + GradualUnfreeze test."
        )
    outputs = "\n".join(output for _, output in results)
    assert "unsupported type" in outputs and "PerReplica" in outputs, outputs[-4000:]
