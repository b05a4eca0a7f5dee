"""Benchmarks run by ``scripts/bench``: named sections, each measuring ratios against a baseline
measured in the same run (never absolute timings, never in tests).

Add a section with one line in ``SECTIONS``:

* ``"module:function"`` — ``function(options: Options) -> Report``, imported only when run; its
  report is printed and, with ``--write-docs``, written to its block of docs/performance.md;
* ``"script:path/to/file.py"`` — a standalone script run with this interpreter; the extra
  arguments after ``--`` are passed to it, it prints (and documents) its own results.

``default`` sections run when ``scripts/bench`` is given no section names.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    target: str
    help: str
    default: bool = True


SECTIONS: dict[str, Section] = {
    "jose": Section("tests.bench.jose_bench:run",
                    "hybrid verify/mint vs the raw crypto floor, vs pyjwt; cached repeat verify"),
    "daemon": Section("tests.bench.daemon_bench:run",
                      "hover on a 5 MiB doc with 1,000 JWTs vs an empty hover; federate warm vs cold; "
                      "daemon cold vs client cold (daemon_cold.py)"),
    "client": Section("tests.bench.client_bench:run",
                      "federate warm vs cold; fleet of 200 vs server cost ÷ cores; CLI verify start-up"),
    "kube": Section("tests.bench.kube_bench:run",
                    "warm `kube credential` (kubectl's exec plugin) vs python -c pass", default=False),
    "platform": Section("script:tests/platform/bench/platform_bench.py",
                        "issuance over HTTP vs the signing floor and Keycloak; soak (minutes)",
                        default=False),
    "verifier": Section("tests.bench.verifier_bench:run",
                        "verifier service (ext auth) req/s vs nginx proxying; cached token; p99 added",
                        default=False),
    "controller": Section("script:tests/controller/bench/controller_soak_bench.py",
                          "identity controller soak: rotation cost vs a bare issuance + verify",
                          default=False),
}
