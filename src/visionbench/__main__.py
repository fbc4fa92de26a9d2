"""``python -m visionbench``: the same as the ``visionbench`` command."""

import sys

from visionbench.cli import main

if __name__ == "__main__":
    sys.exit(main())
