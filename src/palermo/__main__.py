import sys

from palermo.cli import main

sys.exit(main())
