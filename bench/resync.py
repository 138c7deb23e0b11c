"""Benchmark: reading a file of valid-looking headers, the worst case for resynchronizing after damage.

Every 12 bytes a header whose CRC checks out claims a record of half the
file; none is a valid record. Reading it once took 28 s at 4 MB (each
header's claimed data was checksummed: quadratic). Times `read_events` and
`scalars_dataframe` on such a file at doubling sizes and prints the seconds
per MB and the ratio of each size's time to the previous one (about 2 for
linear work, 4 for quadratic).

    .venv/bin/python bench/resync.py [--sizes-mb 1 2 4 8 16]
"""

from __future__ import annotations

import argparse
import os
import struct
import tempfile
import time
import warnings

from tb_callbacks_plugin import read_events, scalars_dataframe
from tb_callbacks_plugin.eventfiles import records


def valid_looking_headers(size: int) -> bytes:
    field = struct.pack("<Q", size // 2)
    header = field + struct.pack("<I", records.masked_crc32c(field))
    return (header * (size // len(header) + 1))[:size]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes-mb", type=float, nargs="+", default=[1, 2, 4, 8, 16])
    args = parser.parse_args()
    previous: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as logdir:
        run = os.path.join(logdir, "run")
        os.makedirs(run)
        path = os.path.join(run, "events.out.tfevents.1.damaged")
        with open(path, "wb") as f:  # warm-up: imports and first calls are not the reading
            f.write(valid_looking_headers(4096))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", records.CorruptRecordWarning)
            read_events(logdir)
            scalars_dataframe(logdir, progress=False)
        for mb in args.sizes_mb:
            with open(path, "wb") as f:
                f.write(valid_looking_headers(int(mb * 2**20)))
            for name, read in (
                ("read_events", lambda: read_events(logdir)),
                ("scalars_dataframe", lambda: scalars_dataframe(logdir, progress=False)),
            ):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", records.CorruptRecordWarning)
                    start = time.perf_counter()
                    read()
                    seconds = time.perf_counter() - start
                ratio = f"{seconds / previous[name]:.2f}x the previous size" if name in previous else ""
                print(f"{mb:6.1f} MB  {name:18s} {seconds:7.2f} s  {seconds / mb:5.2f} s/MB  {ratio}")
                previous[name] = seconds


if __name__ == "__main__":
    main()
