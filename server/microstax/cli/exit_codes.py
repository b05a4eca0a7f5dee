"""Named exit codes of ``microstax`` (documented in docs/cli.md). Stable: scripts rely on them."""

OK = 0
#: A token failed verification (expired, bad signature, PQ part missing, wrong audience, …).
INVALID = 1
#: Bad usage, unreadable input, or a local I/O problem.
USAGE = 2
#: No session for the environment (or it expired and could not be refreshed): run `microstax login`.
NOT_SIGNED_IN = 3
#: The identity provider refused (policy, scope, audience, credentials).
DENIED = 4
#: The identity provider or a cluster endpoint could not be reached or answered garbage.
UNAVAILABLE = 5
#: The configuration is missing or wrong (unknown environment or cluster, bad file).
CONFIG = 6
#: No usable OS keyring to hold secrets.
KEYRING = 7
#: A fleet operation succeeded for some targets and failed for others.
PARTIAL = 8
#: A bug: an unexpected error (details in the log, never a token).
INTERNAL = 70
