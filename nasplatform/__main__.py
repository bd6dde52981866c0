"""`python -m nasplatform` runs the command line."""

import sys

from nasplatform.cli import main

sys.exit(main())
