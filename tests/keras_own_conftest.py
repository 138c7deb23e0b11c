"""conftest.py for Keras's own callback tests, with our drop-ins in place of Keras's classes.

Copied as `conftest.py` next to the `*_test.py` files extracted from the
installed Keras's sdist by tests/test_keras_own.py (never collected by our own
suite: its name is not `conftest.py`). It rebinds `keras.src.callbacks.<X>`
and `keras.callbacks.<X>` before any Keras test module is imported, so that
`callbacks.X(...)` and `from keras.src.callbacks import X` in Keras's tests
build ours.

The one allowed difference is what our TensorBoard adds: the
`callback_events/*` tags. Where a Keras test compares a run's tag sets exactly
(tensorboard_test's `list_summaries`), those tags are filtered out of the
result; nothing else in Keras's tests is touched.
"""

from __future__ import annotations

import os

import keras
import keras.src.callbacks as keras_src_callbacks
import pytest

from tb_callbacks_plugin import callbacks

REBOUND = (
    "BackupAndRestore",
    "EarlyStopping",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ReduceLROnPlateau",
    "TensorBoard",
    "TerminateOnNaN",
)
OUR_TAG_PREFIX = "callback_events/"

# TB_CALLBACKS_KERAS_STOCK=1: Keras's own classes, to tell Keras's own
# failures (e.g. its warnings under -W error) from ours.
STOCK = os.environ.get("TB_CALLBACKS_KERAS_STOCK") == "1"
if not STOCK:
    for _name in REBOUND:
        ours = getattr(callbacks, _name)
        setattr(keras_src_callbacks, _name, ours)
        setattr(keras.callbacks, _name, ours)


def pytest_configure(config: pytest.Config) -> None:
    # Keras's repository conftest (not in the sdist) declares these.
    config.addinivalue_line("markers", "requires_trainable_backend: needs a backend that trains")
    config.addinivalue_line("markers", "requires_trainable_backend_or_jax: as above")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if keras.backend.backend() != "numpy":
        return
    skip = pytest.mark.skip(reason="the numpy backend does not train")
    for item in items:
        if "requires_trainable_backend" in item.keywords:
            item.add_marker(skip)


def _without_our_tags(summary_file: object) -> object:
    for name in ("scalars", "images", "histograms", "tensors"):
        tags = getattr(summary_file, name, None)
        if isinstance(tags, set):
            setattr(summary_file, name, {s for s in tags if not s.tag.startswith(OUR_TAG_PREFIX)})
    return summary_file


@pytest.fixture(autouse=True)
def _filter_our_tags(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    module = request.module
    list_summaries = getattr(module, "list_summaries", None)
    if list_summaries is None:
        return
    monkeypatch.setattr(module, "list_summaries", lambda logdir: _without_our_tags(list_summaries(logdir)))


def pytest_report_header(config: pytest.Config) -> str:
    rebound = ", ".join(f"{n}={getattr(keras_src_callbacks, n).__module__}" for n in REBOUND)
    return f"keras {keras.__version__} ({keras.backend.backend()}); rebound: {rebound}"
