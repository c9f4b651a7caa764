"""The `Example:` blocks of keras_transfer.export's public functions run.

(tests/test_docstrings.py runs those of the packages it lists; this package
is TensorFlow-only, so its examples run here, on that backend.)
"""

import inspect
import re

import pytest

from keras_transfer import export

pytestmark = pytest.mark.tensorflow_only


@pytest.mark.parametrize(
    "function", ["export_model", "load_artifact", "read_class_names"]
)
def test_example_runs(function):
    doc = inspect.getdoc(getattr(export, function))
    blocks = re.findall(r"```python\n(.*?)```", doc.split("\nExample:", 1)[1], re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, f"<{function} example>", "exec"), {})
