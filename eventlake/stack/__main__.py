"""Entry point of `python -m eventlake.stack`."""

import sys

from eventlake.stack.cli import main

sys.exit(main())
