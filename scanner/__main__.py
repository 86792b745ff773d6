"""Run the scanner as `python -m scanner`."""

import sys

from scanner.cli import main

sys.exit(main())
