"""The ``microstax`` console script and ``python -m microstax``: the CLI.

kubectl runs the credential plugin (``microstax kube credential``) on every invocation, so that
one command first tries the token cache without loading the command-line framework (click, the
identity service, ``cryptography``'s asymmetric code): only tomllib (the user config), the
sealed token store (AES-GCM) and the cache entry. Any other command, other arguments, a cache
miss or any error goes through the full CLI, which decides (and reports) as usual.
Keep this module's imports to the standard library: it is imported on every run.
"""

from __future__ import annotations

import sys

_FLAGS = {"--target": "target", "-t": "target", "--service": "service", "-s": "service",
          "--env": "environment", "-e": "environment", "--config": "config_file"}


def warm_kube_credential(argv: list[str]) -> bool:
    """``kube credential --target C [--service S] [--env E] [--config F]`` answered from the
    cache: True when printed. Any other shape, a miss or any error: False (the CLI decides)."""
    if argv[:2] != ["kube", "credential"]:
        return False
    values: dict[str, str] = {}
    rest = argv[2:]
    if len(rest) % 2:
        return False
    for flag, value in zip(rest[::2], rest[1::2], strict=True):
        if flag not in _FLAGS or value.startswith("-"):
            return False
        values[_FLAGS[flag]] = value
    if "target" not in values:
        return False
    try:
        import json

        from microstax.identity import config as config_mod
        from microstax.identity.kubecredential import CredentialInput, _cached

        request = CredentialInput(target=values["target"], service=values.get("service", "default"),
                                  environment=values.get("environment"),
                                  config_file=values.get("config_file"))
        config = config_mod.load(request.config_file)
        doc = _cached(request, config, config.default_name(request.environment))
    except Exception:
        return False
    if doc is None:
        return False
    sys.stdout.write(json.dumps(doc) + "\n")
    return True


def main() -> int:
    if warm_kube_credential(sys.argv[1:]):
        return 0
    from microstax.cli.main import main as cli_main

    return cli_main()
