"""Key rotation with pre-publication: new keys are in both JWKS at once, but sign only after
``--publish-ahead`` seconds, so receivers that cache the key set (Envoy jwt_authn refetches only
on its schedule) already hold a key when the first token names it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.harness.platform_inproc import InProc

from microstax.jose import KeyStore, parse


def test_a_pre_published_key_signs_only_from_its_activation(tmp_path: Path) -> None:
    store = KeyStore(tmp_path, retain_seconds=3600)
    first = store.generate()
    store.rotate(now=1000.0, publish_ahead=300)
    published = {k.kid for k in store.published(now=1000.0)}
    assert first.classical.kid in published and len(published) == 4
    assert store._current(now=1000.0).classical.kid == first.classical.kid  # old key still signs
    assert store._current(now=1299.0).classical.kid == first.classical.kid
    after = store._current(now=1300.0)
    assert after.classical.kid != first.classical.kid and after.pq.kid != first.pq.kid
    # persisted: another replica reading the file agrees
    other = KeyStore(tmp_path, retain_seconds=3600).load()
    assert other._current(now=1000.0).classical.kid == first.classical.kid
    assert other._current(now=1300.0).classical.kid == after.classical.kid
    # the old keys stay published for retain_seconds after they stopped signing
    assert first.classical.kid in {k.kid for k in other.published(now=1300.0 + 3599)}
    assert first.classical.kid not in {k.kid for k in other.published(now=1300.0 + 3601)}


def test_rotating_again_before_activation_keeps_one_signer(tmp_path: Path) -> None:
    store = KeyStore(tmp_path, retain_seconds=3600)
    first = store.generate()
    store.rotate(now=1000.0, publish_ahead=300)
    third = store.rotate(now=1100.0, publish_ahead=300)
    assert store._current(now=1100.0).classical.kid == first.classical.kid
    assert store._current(now=1400.0).classical.kid == third.classical.kid


async def test_rotate_keys_publish_ahead_over_the_cli(mx: InProc) -> None:
    before = await mx.cc_token()
    r = subprocess.run([sys.executable, "-m", "microstax", "platform", "rotate-keys", "--data-dir",
                        str(mx.data_dir), "--publish-ahead", "600", "--json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    new_kid = doc["rotated"]["central"]["classical"]
    assert doc["signsInSeconds"] == 600
    mx.platform.central.force_reload()
    jwks = (await mx.client.get("/jwks.json")).json()
    assert new_kid in {k["kid"] for k in jwks["keys"]}  # published now
    after = await mx.cc_token()
    assert parse(after).header["kid"] == parse(before).header["kid"] != new_kid  # not signing yet
    r = subprocess.run([sys.executable, "-m", "microstax", "platform", "rotate-keys", "--data-dir",
                        str(mx.data_dir), "--publish-ahead", "-1"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
