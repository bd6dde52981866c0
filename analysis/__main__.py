"""`python -m analysis report RESULTS.parquet [MORE.parquet ...] --out DIR [--runs-root DIR]`: build the HTML report."""

import sys

from analysis.cli import main

if __name__ == "__main__":
    sys.exit(main())
