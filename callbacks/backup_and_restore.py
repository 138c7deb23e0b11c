"""`BackupAndRestore`: keras.callbacks.BackupAndRestore that records each resume."""

from __future__ import annotations

from . import _describe, _keras
from ._keras import keras, same_signature
from .callback import Callback


@same_signature
class BackupAndRestore(Callback, keras.callbacks.BackupAndRestore):
    """Backs training up every epoch and resumes an interrupted run, and says so.

    The same arguments and training behaviour as
    `keras.callbacks.BackupAndRestore`. When a fit resumes from a backup it
    records a `backup_restored` event (data: `initial_epoch`, the 0-based
    epoch training continues at, and `backup_dir`).

    Args:
      backup_dir: directory of the backup; must not be shared with other
        callbacks or runs.
      save_freq: `"epoch"`, or a number of batches between backups.
      double_checkpoint: keep the previous backup too, for a corrupted one.
      delete_checkpoint: delete the backup when training ends normally.

    Example:

    ```python
    model.fit(x, y, epochs=50, callbacks=[
        callbacks.BackupAndRestore("backup/run1"),
        callbacks.TensorBoard("logs/run1"),
    ])
    # interrupted? run the same fit again: it continues where it stopped.
    ```
    """

    def on_train_begin(self, logs: dict | None = None) -> None:
        had_backup = _keras.backup_exists(self)
        super().on_train_begin(logs)
        if had_backup:
            initial_epoch = int(_keras.restored_initial_epoch(self.model) or 0)
            backup_dir = str(self.backup_dir)
            self._log(
                "backup_restored",
                _describe.backup_restored(initial_epoch, backup_dir),
                epoch=initial_epoch,
                data={"initial_epoch": initial_epoch, "backup_dir": backup_dir},
            )
