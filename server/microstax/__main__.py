import sys

from microstax.cli.main import main

sys.exit(main())
