"""`python -m benchmarks.report`: the usage is the package's docstring."""

import sys

from benchmarks.report.driver import main

if __name__ == "__main__":
    sys.exit(main())
