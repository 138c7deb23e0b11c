"""Placeholder demo: writes sample callback events (replaced by real training)."""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from tb_callbacks_plugin import EventWriter  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logdir", default="logs")
    args = parser.parse_args()
    with EventWriter(os.path.join(args.logdir, "sample", "train")) as writer:
        writer.write("train_begin", 0, "training started", epoch=0, epochs=10, steps=100)
        writer.write("lr_change", 400, "learning rate 0.01 -> 0.001", epoch=4, old=0.01, new=0.001)
        writer.write("early_stop", 700, "val_loss did not improve for 3 epochs", epoch=7, monitor="val_loss")
        writer.write("train_end", 700, "training ended: early_stop", epoch=7, reason="early_stop")
    print(f"wrote sample events to {args.logdir}")


if __name__ == "__main__":
    main()
