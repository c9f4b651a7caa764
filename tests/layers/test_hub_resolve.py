"""HubBackbone handles (directory, .tar.gz, remote over a local HTTP server) and bad inputs."""

import functools
import hashlib
import http.server
import os
import shutil
import socket
import threading

import keras
import numpy as np
import pytest

pytestmark = pytest.mark.tensorflow_only
X2 = np.array([[1.0, 2.0]], "float32")  # half_plus_one: 2.5


def _hub(path, **kwargs):
    from keras_transfer.layers import HubBackbone

    return HubBackbone(path, **kwargs)


@pytest.fixture
def serve_dir(tmp_path):
    """Serves a directory on 127.0.0.1; yields (base_url, stop)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state = {"running": True}

    def stop():
        if state["running"]:
            server.shutdown()
            server.server_close()
            state["running"] = False

    yield root, f"http://127.0.0.1:{server.server_address[1]}", stop
    stop()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("nested", [False, True])
def test_local_tarball_loads_and_is_unpacked_once(
    savedmodel, tmp_path, monkeypatch, nested
):
    from _savedmodels import tarball

    cache = tmp_path / "cache"
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(cache))
    archive = tarball(
        savedmodel("half_plus_one"), str(tmp_path / "m.tar.gz"), nested=nested
    )
    first = _hub(archive)
    assert float(first(X2)[0, 0]) == pytest.approx(2.5)
    assert first.resolved_path.startswith(str(cache))
    assert len(os.listdir(cache)) == 1
    second = _hub(archive, trainable=True)
    assert second.resolved_path == first.resolved_path
    assert float(second(X2, training=True)[0, 0]) == pytest.approx(12.5)


def test_remote_handle_downloads_into_tfhub_cache_dir(
    savedmodel, serve_dir, tmp_path, monkeypatch
):
    from _savedmodels import tarball

    root, base, stop = serve_dir
    cache = tmp_path / "hub_cache"
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(cache))
    tarball(savedmodel("half_plus_one"), str(root / "half_plus_one.tar.gz"))
    handle = f"{base}/half_plus_one.tar.gz"
    layer = _hub(handle, trainable=True)
    assert float(layer(X2, training=True)[0, 0]) == pytest.approx(12.5)
    expected_dir = cache / hashlib.sha1(handle.encode()).hexdigest()
    assert os.path.realpath(layer.resolved_path) == os.path.realpath(expected_dir)
    # Served from the cache once the server is gone (and the archive deleted).
    stop()
    os.remove(root / "half_plus_one.tar.gz")
    again = _hub(handle)
    assert float(again(X2)[0, 0]) == pytest.approx(2.5)


def test_remote_handle_offline_says_so_and_how_to_use_a_local_copy(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "cache"))
    handle = f"http://127.0.0.1:{_closed_port()}/google/model/1.tar.gz"
    with pytest.raises(ConnectionError) as info:
        _hub(handle)
    message = str(info.value)
    assert "offline" in message and "local copy" in message
    assert handle in message and str(tmp_path / "cache") in message


def test_remote_handle_not_found(serve_dir, tmp_path, monkeypatch):
    _, base, _ = serve_dir
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(ValueError, match="HTTP 404"):
        _hub(f"{base}/missing.tar.gz")


def test_missing_path_names_the_handle(tmp_path):
    handle = str(tmp_path / "no_such_model")
    with pytest.raises(ValueError, match="does not exist") as info:
        _hub(handle)
    assert f"handle={handle!r}" in str(info.value)


def test_directory_without_savedmodel_lists_its_content(tmp_path):
    (tmp_path / "weights.h5").write_bytes(b"")
    with pytest.raises(ValueError, match="not a SavedModel") as info:
        _hub(str(tmp_path))
    assert "weights.h5" in str(info.value)


def test_plain_file_is_rejected(tmp_path):
    file = tmp_path / "model.h5"
    file.write_bytes(b"x")
    with pytest.raises(ValueError, match="is a file"):
        _hub(str(file))


def test_corrupt_tarball(tmp_path, monkeypatch):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "cache"))
    archive = tmp_path / "broken.tar.gz"
    archive.write_bytes(b"not a tar archive")
    with pytest.raises(ValueError, match="could not be unpacked"):
        _hub(str(archive))
    assert [p for p in os.listdir(tmp_path / "cache") if p.startswith("local_")] == []


def test_unknown_signature_lists_the_available_ones(savedmodel):
    with pytest.raises(ValueError, match="Unknown `signature`") as info:
        _hub(savedmodel("signatures"), signature="tripple")
    assert "'double'" in str(info.value) and "'sum_diff'" in str(info.value)


def test_not_callable_without_default_endpoint_lists_signatures(savedmodel):
    with pytest.raises(ValueError, match="not callable") as info:
        _hub(savedmodel("signatures"))
    assert "['double', 'sum_diff']" in str(info.value)


def test_several_outputs_need_an_output_key(savedmodel):
    with pytest.raises(ValueError, match="several outputs") as info:
        _hub(savedmodel("signatures"), signature="sum_diff")
    assert "['diff', 'sum']" in str(info.value)


@pytest.mark.parametrize(
    "builder,kwargs,x",
    [
        ("signatures", {"signature": "sum_diff", "output_key": "product"}, None),
        (
            "structured",
            {"output_key": "y3"},
            {"a": np.ones((1, 3)), "b": np.ones((1, 2))},
        ),
    ],
)
def test_unknown_output_key_lists_the_keys(savedmodel, builder, kwargs, x):
    built = savedmodel(builder)
    path = built[0] if isinstance(built, tuple) else built
    with pytest.raises(ValueError, match="Unknown `output_key`") as info:
        _hub(path, **kwargs)(x)
    assert "'diff'" in str(info.value) or "['y1', 'y2']" in str(info.value)


def test_output_key_on_a_tensor_output(savedmodel):
    with pytest.raises(ValueError, match="returns a dict"):
        _hub(savedmodel("half_plus_one"), output_key="y")(X2)


@pytest.mark.parametrize(
    "shape,expected",
    [((2, 3), "size 3 on axis 1, expected 2"), ((2, 2, 1), "rank 3, expected rank 2")],
)
def test_wrong_input_shape_symbolic_and_eager(savedmodel, shape, expected):
    layer = _hub(savedmodel("half_plus_one"))
    with pytest.raises(ValueError, match=expected) as info:
        layer(keras.Input(shape[1:]))
    assert "(None, 2) float32" in str(info.value)
    with pytest.raises(ValueError, match=expected):
        layer(np.ones(shape, "float32"))


def test_wrong_input_structure(savedmodel):
    path, _ = savedmodel("structured")
    with pytest.raises(ValueError, match=r"dict with keys \['a'\] does not match"):
        _hub(path)({"a": np.ones((1, 3), "float32")})


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"handle": 3}, "`handle` must be"),
        ({"handle": ""}, "`handle` must be"),
        ({"handle": "x", "signature": 1}, "`signature` must be"),
        ({"handle": "x", "output_key": ["y"]}, "`output_key` must be"),
        ({"handle": "x", "arguments": [1]}, "`arguments` must be a dict"),
        ({"handle": "x", "arguments": {"f": np.ones}}, "JSON-serializable"),
    ],
)
def test_bad_argument_types(kwargs, match):
    from keras_transfer.layers import HubBackbone

    with pytest.raises(TypeError, match=match):
        HubBackbone(**kwargs)


def test_remote_without_tensorflow_hub_names_the_extra(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tensorflow_hub", None)  # import fails
    with pytest.raises(ImportError, match=r"keras-transfer\[tfhub\]"):
        _hub("http://127.0.0.1:9/hub/model.tar.gz")


def test_savedmodel_dir_can_be_moved_after_load(savedmodel, tmp_path):
    copy = shutil.copytree(savedmodel("half_plus_one"), tmp_path / "copy")
    layer = _hub(str(copy))
    shutil.rmtree(copy)
    assert float(layer(X2)[0, 0]) == pytest.approx(2.5)


def test_arguments_the_savedmodel_was_not_traced_for(savedmodel):
    with pytest.raises(ValueError, match="not traced for these call arguments") as info:
        _hub(savedmodel("half_plus_one"), arguments={"scale": 2.0})
    message = str(info.value)
    assert "arguments={'scale': 2.0}" in message
    assert "{'scale': 3.0, 'training': True}" in message  # what was traced


def test_tuple_inputs_for_a_list_signature(savedmodel):
    path, original = savedmodel("list_outputs")
    x = (np.ones((2, 3), "float32"), np.ones((2, 3), "float32"))
    for got, want in zip(_hub(path)(x), original(list(x))):
        np.testing.assert_allclose(got, want, rtol=1e-5)


def _saved_model_with_moved_handle(savedmodel, tmp_path):
    """A .keras file over a copy of half_plus_one, then the copy moved away."""
    old = tmp_path / "old" / "hub"
    shutil.copytree(savedmodel("half_plus_one"), old)
    model = keras.Sequential([keras.Input((2,)), _hub(str(old), trainable=True)])
    model.layers[0].weights[0].assign([[1.0], [3.0]])  # "fine-tuned": 1 + 6 + 1 = 8
    file = str(tmp_path / "m.keras")
    model.save(file)
    new = tmp_path / "new" / "hub"
    new.parent.mkdir()
    os.rename(old, new)
    return file, str(old), str(new)


def test_keras_file_whose_handle_is_gone_says_how_to_relocate(savedmodel, tmp_path):
    file, old, _ = _saved_model_with_moved_handle(savedmodel, tmp_path)
    with pytest.raises(ValueError, match="no longer exists") as info:
        keras.models.load_model(file, safe_mode=False)
    message = str(info.value)
    assert f"handle={old!r}" in message
    assert "Put the SavedModel back" in message and "pass its new path" in message
    assert (
        "HubBackbone.relocated(" in message and "KERAS_TRANSFER_HUB_HANDLES" in message
    )


@pytest.mark.parametrize("how", ["context", "environment"])
@pytest.mark.parametrize("mapped", ["handle", "folder"])
def test_relocated_handle_loads_the_fine_tuned_weights(
    savedmodel, tmp_path, monkeypatch, how, mapped
):
    import json

    from keras_transfer.layers import HubBackbone

    file, old, new = _saved_model_with_moved_handle(savedmodel, tmp_path)
    mapping = (
        {old: new}
        if mapped == "handle"
        else {os.path.dirname(old) + "/": os.path.dirname(new)}
    )
    if how == "context":
        with HubBackbone.relocated(mapping):
            reloaded = keras.models.load_model(file, safe_mode=False)
    else:
        monkeypatch.setenv("KERAS_TRANSFER_HUB_HANDLES", json.dumps(mapping))
        reloaded = keras.models.load_model(file, safe_mode=False)
    layer = reloaded.layers[0]
    assert layer.handle == new and layer.get_config()["handle"] == new
    assert float(reloaded(X2)[0, 0]) == pytest.approx(8.0)


def test_innermost_relocation_and_longest_prefix_win(tmp_path, monkeypatch):
    from keras_transfer.layers import HubBackbone
    from keras_transfer.layers._hub_resolve import relocate

    monkeypatch.setenv("KERAS_TRANSFER_HUB_HANDLES", '{"/a": "/env"}')
    assert relocate("/a/m") == "/env/m"
    assert relocate("/ab/m") == "/ab/m"  # whole path components only
    with HubBackbone.relocated({"/a": "/outer", "/a/m": "/exact"}):
        assert relocate("/a/m") == "/exact" and relocate("/a/n") == "/outer/n"
        with HubBackbone.relocated({"/a": "/inner"}):
            assert relocate("/a/m") == "/inner/m"
        assert relocate("/a/m") == "/exact"
    assert relocate("/a/m") == "/env/m"


@pytest.mark.parametrize("value", ["not json", '["/a", "/b"]', '{"/a": 1}'])
def test_bad_relocation_environment_variable(monkeypatch, value):
    from keras_transfer.layers._hub_resolve import relocate

    monkeypatch.setenv("KERAS_TRANSFER_HUB_HANDLES", value)
    with pytest.raises(ValueError, match="must be a JSON object") as info:
        relocate("/a")
    assert repr(value) in str(info.value)


def test_bad_relocation_mapping():
    from keras_transfer.layers import HubBackbone

    with pytest.raises(TypeError, match="`handles` must be a dict"):
        with HubBackbone.relocated(["/a", "/b"]):
            pass
