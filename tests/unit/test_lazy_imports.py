"""kubectl runs ``microstax kube credential`` on every invocation: its warm path must not load
the signature code, the CLI framework or the HTTP stack (docs/performance.md, kube section).
And ``microstax.jose``'s lazy exports must behave like the eager ones did."""

from __future__ import annotations

import json
import subprocess
import sys

WARM_PATH_MODULES = ("microstax.launcher", "microstax.identity.config", "microstax.identity.cache",
                     "microstax.identity.kubecredential", "microstax.adapters.secrets",
                     "cryptography.hazmat.primitives.ciphers.aead")
NEVER_ON_WARM_PATH = ("microstax.jose.keys", "microstax.jose.hybrid", "microstax.jose.describe",
                      "microstax.identity.models", "microstax.identity.service", "microstax.cli",
                      "click", "httpx", "cryptography.hazmat.primitives.asymmetric")


def test_the_warm_credential_path_imports_no_signature_cli_or_http_code() -> None:
    code = ("import importlib, json, sys\n"
            f"for name in {WARM_PATH_MODULES!r}: importlib.import_module(name)\n"
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert not loaded & set(NEVER_ON_WARM_PATH), sorted(loaded & set(NEVER_ON_WARM_PATH))


def test_lazy_jose_exports_resolve_like_eager_imports() -> None:
    code = ("import microstax.jose.describe\n"  # the submodule first: it must not hide the function
            "from microstax import jose\n"
            "from microstax.jose import describe, write_private_file, numeric_date\n"
            "from microstax.jose.keys import write_private_file as old_home\n"
            "assert callable(describe) and jose.describe is describe\n"
            "assert old_home is write_private_file and numeric_date(5) == 5\n"
            "missing = [n for n in jose.__all__ if not hasattr(jose, n)]\n"
            "assert not missing, missing\n"
            "try:\n    jose.no_such_name\nexcept AttributeError as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "no_such_name" in out.stdout
