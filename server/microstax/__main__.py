"""``python -m microstax``: the CLI. kubectl's credential plugin (``kube credential``, run on
every kubectl invocation) first tries the token cache without loading the command-line
framework; anything else, or a cache miss, goes through the full CLI."""

import sys


def _warm_kube_credential(argv: list[str]) -> bool:
    """``kube credential --target C [--service S] [--env E] [--config F]`` answered from the
    cache: True when printed. Any other shape, a miss or any error: False (the CLI decides)."""
    if argv[:2] != ["kube", "credential"]:
        return False
    names = {"--target": "target", "-t": "target", "--service": "service", "-s": "service",
             "--env": "environment", "-e": "environment", "--config": "config_file"}
    values: dict[str, str] = {}
    rest = argv[2:]
    if len(rest) % 2:
        return False
    for flag, value in zip(rest[::2], rest[1::2], strict=True):
        if flag not in names or value.startswith("-"):
            return False
        values[names[flag]] = value
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


if _warm_kube_credential(sys.argv[1:]):
    sys.exit(0)

from microstax.cli.main import main  # noqa: E402

sys.exit(main())
