import sys

from drone_ops.cli import main

sys.exit(main())
