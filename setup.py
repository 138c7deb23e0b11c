"""tb-callbacks-plugin: Keras callback events on a TensorBoard timeline."""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGES = ["callbacks", "callbacks.*", "tb_callbacks_plugin", "tb_callbacks_plugin.*"]
# The built frontend: a data-only package (no __init__.py), listed so that
# setuptools ships it without warning that it would be ignored.
STATIC = "tb_callbacks_plugin.server.static"

setup(
    name="tb-callbacks-plugin",
    version="0.1.0",
    description="Record what Keras callbacks did and see it in TensorBoard's Callback Events tab",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=[*find_packages(include=PACKAGES), STATIC],
    package_data={STATIC: ["*.js", "*.css"]},
    include_package_data=True,
    install_requires=[
        "tensorflow>=2.16",
        "tensorboard>=2.16",
        "protobuf>=3.20",
        "werkzeug>=2.0",
        "keras>=3.0",
        "numpy",
        "google-crc32c>=1.5",
    ],
    extras_require={
        "pandas": ["pandas>=1.5"],
        "plot": ["matplotlib>=3.5"],
        "cli": ["tqdm>=4.60"],
        "s3": ["fsspec>=2023.1", "s3fs>=2023.1"],
        "gcs": ["fsspec>=2023.1", "gcsfs>=2023.1"],
        "test": [
            "pytest>=7",
            "pytest-timeout>=2",
            "hypothesis>=6",
            "pandas>=1.5",
            "matplotlib>=3.5",
            "scikit-learn>=1.2",
            "tbparse>=0.0.9",
            "tqdm>=4.60",
            "playwright>=1.40",
            "jax[cpu]>=0.4",
            "fsspec>=2023.1",
            "s3fs>=2023.1",
            "moto[server]>=5",
            "ruff>=0.5",
        ],
    },
    entry_points={
        "tensorboard_plugins": [
            "callback_events = tb_callbacks_plugin.server.loader:CallbackEventsLoader",
        ],
        "console_scripts": ["tb-callbacks = tb_callbacks_plugin.cli.main:main"],
    },
)
