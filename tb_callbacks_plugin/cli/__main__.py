"""`python -m tb_callbacks_plugin.cli`."""

import sys

from tb_callbacks_plugin.cli.main import main

sys.exit(main())
