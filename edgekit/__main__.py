import sys

from edgekit.cli.main import main

sys.exit(main())
