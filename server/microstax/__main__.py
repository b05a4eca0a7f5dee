"""``python -m microstax``: the CLI, as the ``microstax`` console script (microstax.launcher:
kubectl's ``kube credential`` is answered from the token cache before the CLI framework loads)."""

import sys

from microstax.launcher import main

sys.exit(main())
