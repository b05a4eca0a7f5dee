# shellcheck shell=bash
# Sourced by scripts/test before pytest: installs Debian's Apache 2.4 and mod_auth_openidc (if
# missing) for the classical-receiver tests (tests/receivers/thirdparty/). Nothing is started
# here and apt starts nothing either: the tests run their own apache2 with a private -f config
# on a free loopback port (tests/harness/receivers_thirdparty.py).
ensure_apt apache2 libapache2-mod-auth-openidc
