"""`tensorboard` as it runs where TensorFlow is not installed, in this venv that has it.

Every Keras-on-JAX or Keras-on-torch user without TensorFlow runs this
configuration: TensorBoard says "TensorFlow installation not found - running
with reduced feature set" and reads through its own stub (`tensorboard.compat`).
Most test servers run it (tests/tb_server.py, `tensorflow=False`): a
TensorBoard that imports TensorFlow takes 18-20 s of CPU to start and answer,
one that does not 2 s. The files that keep the TensorFlow-present server are
listed in docs/architecture.md, "Testing".

Only the import system changes: `tensorflow` and its submodules are not found,
as where the package is absent (`import tensorflow` raises ModuleNotFoundError
and `importlib.util.find_spec("tensorflow")` is None); then TensorBoard's own
entry point runs with this process's arguments.
"""

from __future__ import annotations

import importlib.machinery
import sys


class _PathFinderWithoutTensorFlow(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, fullname, path=None, target=None):  # noqa: ANN001, ANN206
        if fullname.partition(".")[0] == "tensorflow":
            return None
        return super().find_spec(fullname, path, target)


def main() -> None:
    sys.meta_path[:] = [
        _PathFinderWithoutTensorFlow if finder is importlib.machinery.PathFinder else finder
        for finder in sys.meta_path
    ]
    from tensorboard.main import run_main

    sys.argv[0] = "tensorboard"
    run_main()  # exits with TensorBoard's status


if __name__ == "__main__":
    main()
