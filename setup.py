"""tb-callbacks-plugin: Keras callback events on a TensorBoard timeline."""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGES = ["tb_callbacks_plugin", "tb_callbacks_plugin.*"]
# The Keras side lives in the repository's top-level callbacks/ folder and is
# installed as tb_callbacks_plugin.callbacks: a top-level `callbacks` package
# would collide with users' own callbacks.py and with the index's `callbacks`.
KERAS_SIDE = "tb_callbacks_plugin.callbacks"
# The built frontend: a data-only package (no __init__.py), listed so that
# setuptools ships it without warning that it would be ignored.
STATIC = "tb_callbacks_plugin.server.static"

# Supported Keras 3: from the Keras that TensorFlow 2.16 (the first TensorFlow
# on Keras 3) installed, to the newest release tested here. CI tests both
# ends (tests/test_backends.py). tf-keras 2 (TF_USE_LEGACY_KERAS=1) is
# supported from 2.16: TensorFlow 2.15 pins keras<2.16, which cannot be
# installed next to Keras 3.
KERAS_FLOOR = "3.0.5"
KERAS_TESTED_NEWEST = "3.15.1"
KERAS = f"keras>={KERAS_FLOOR},<3.16"
TENSORFLOW = "tensorflow>=2.16"
TF_KERAS = "tf_keras>=2.16"
# What demo/train.py imports and what the README's examples use on its logs
# (export's Parquet, the DuckDB query): every README example runs in the demo's venv.
DEMO = ["scikit-learn>=1.2", "pandas>=1.5", "matplotlib>=3.5", "tqdm>=4.60", "pyarrow>=12", "duckdb>=0.9"]

setup(
    name="tb-callbacks-plugin",
    version="0.1.0",
    description="Record what Keras callbacks did and see it in TensorBoard's Callback Events tab",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=[*find_packages(include=PACKAGES), KERAS_SIDE, STATIC],
    package_dir={KERAS_SIDE: "callbacks"},
    package_data={STATIC: ["*.js", "*.css"]},
    include_package_data=True,
    # No TensorFlow: the package never needs it on JAX or torch, and a user of
    # tensorflow-cpu (or tensorflow-macos) must not get a second TensorFlow.
    install_requires=[
        KERAS,
        "tensorboard>=2.16",
        "protobuf>=3.20",
        "werkzeug>=2.0",
        "numpy",
        "google-crc32c>=1.5",
    ],
    extras_require={
        "tensorflow": [TENSORFLOW],
        "tf-keras": [TENSORFLOW, TF_KERAS],
        # The demo and the README's examples, with TensorFlow as Keras's backend.
        "demo": [TENSORFLOW, *DEMO],
        "pandas": ["pandas>=1.5"],
        # scalars_dataframe and `tb-callbacks export --format parquet`.
        "parquet": ["pandas>=1.5", "pyarrow>=12"],
        "plot": ["matplotlib>=3.5"],
        "cli": ["tqdm>=4.60"],
        # scalars_dataframe and the CLI read large event files with compiled
        # loops (eventfiles/scalar_kernels.py); without it, with numpy.
        "fast": ["numba>=0.59"],
        "s3": ["fsspec>=2023.1", "s3fs>=2023.1"],
        "gcs": ["fsspec>=2023.1", "gcsfs>=2023.1"],
        # What the event tests need on any backend (tests/test_backends.py
        # installs it into the JAX, torch and Keras-floor environments).
        "test-events": ["pytest>=7", "pytest-timeout>=2", "scikit-learn>=1.2", "pillow>=9"],
        "test": [
            TENSORFLOW,
            TF_KERAS,
            *DEMO,
            "pytest>=7",
            "pytest-timeout>=2",
            # scripts/test.sh runs the suite on two workers (tests/conftest.py).
            "pytest-xdist>=3.5",
            "hypothesis>=6",
            "tbparse>=0.0.9",
            "numba>=0.59",
            "pyarrow>=12",
            "duckdb>=0.9",
            "playwright>=1.40",
            # No JAX: with JAX installed every TensorFlow import also imports it
            # (tf.lite); what needs JAX runs in .venvs/ (scripts/backend_env.sh).
            "fsspec>=2023.1",
            "s3fs>=2023.1",
            "moto[server]>=5",
            "ruff>=0.5",
            "mypy>=1.8",
            # Searches (tests/test_sweeps*.py): real KerasTuner, Optuna with its
            # Keras pruning callback, and Ray Tune on a local cluster.
            "keras-tuner>=1.4",
            "optuna>=3.0",
            "optuna-integration>=3.0",
            "ray[tune]>=2.9",
        ],
    },
    entry_points={
        "tensorboard_plugins": [
            "callback_events = tb_callbacks_plugin.server.loader:CallbackEventsLoader",
        ],
        "console_scripts": ["tb-callbacks = tb_callbacks_plugin.cli.main:main"],
    },
)
