"""The `tb-callbacks` command: event tables, the experiment summary, plots and output formats."""
