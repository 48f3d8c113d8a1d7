import sys

from slolab.cli import main

sys.exit(main())
