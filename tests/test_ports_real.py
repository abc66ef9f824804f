"""The real ports (``adapters/ports.py``): thin wrappers over the adapters, configured by ``Settings``."""

from __future__ import annotations

import pytest

from trialdesk.adapters.ports import real_ports
from trialdesk.adapters.randomization_secret import seed_check
from trialdesk.domain.errors import NotFound
from trialdesk.services.ports import Ports
from trialdesk.settings import Settings


def test_real_ports_without_settings_is_one_shared_instance():
    ports = real_ports()
    assert isinstance(ports, Ports) and real_ports() is ports
    assert real_ports(Settings()) is not ports


def test_passwords_and_tokens():
    ports = real_ports(Settings(argon2_profile="fast"))
    hashed = ports.passwords.hash("correct horse")
    assert "m=8192" in hashed  # the configured cheap profile
    assert ports.passwords.verify(hashed, "correct horse")
    assert not ports.passwords.verify(hashed, "wrong")
    assert not ports.passwords.verify(None, "correct horse")
    assert "m=65536" in real_ports(Settings(argon2_profile="default")).passwords.hash("x")
    assert "m=8192" in real_ports(Settings(argon2_profile="default")).passwords.hash("x", fast=True)
    token = ports.tokens.new_token("td_")
    assert token.startswith("td_") and len(ports.tokens.digest(token)) == 64
    assert len(ports.tokens.one_time_password().split("-")) == 4


def test_seeds_follow_the_settings(tmp_path, monkeypatch):
    monkeypatch.delenv("TRIALDESK_RANDOMIZATION_SECRET", raising=False)
    seeds = real_ports(Settings(randomization_dir=tmp_path / "seeds")).seeds
    seed = seeds.new_seed()
    assert len(seed) == 32 and seeds.check(seed) == seed_check(seed)
    path = seeds.store().save("NCT00000001", seed)
    assert path.parent == tmp_path / "seeds" and oct(path.stat().st_mode & 0o777) == "0o600"
    assert seeds.store() is seeds.store()  # one store: its cache of recognised seeds lasts
    other = real_ports(Settings(randomization_dir=tmp_path / "seeds")).seeds.store()
    assert other.load("NCT00000001", seed_check(seed)) == seed  # read back from the file
    from_env = real_ports(Settings(randomization_dir=tmp_path / "empty", randomization_secret=seed.hex()))
    assert from_env.seeds.store().load("NCT00000001", seed_check(seed)) == seed
    with pytest.raises(NotFound):
        real_ports(Settings(randomization_dir=tmp_path / "empty")).seeds.store().load("NCT00000001", "0" * 64)


def test_the_default_seed_store_reads_the_environment_at_call_time(tmp_path, monkeypatch):
    from trialdesk.adapters.randomization_secret import SeedStore

    store = SeedStore()
    monkeypatch.setenv("TRIALDESK_RANDOMIZATION_DIR", str(tmp_path / "a"))
    assert store.path_for("NCT00000001", "ab" * 32).parent == tmp_path / "a"
    monkeypatch.delenv("TRIALDESK_RANDOMIZATION_DIR")
    monkeypatch.setenv("TRIALDESK_DATA_DIR", str(tmp_path / "b"))
    assert store.path_for("NCT00000001", "ab" * 32).parent == tmp_path / "b" / "randomization"


def test_ctcae_workbook_is_configured_or_absent(tmp_path):
    from trialdesk.adapters.ctcae_xlsx import CtcaeWorkbookError

    ports = real_ports(Settings(ctcae_xlsx=tmp_path / "missing.xlsx"))
    assert ports.ctcae.configured() == tmp_path / "missing.xlsx"
    with pytest.raises(CtcaeWorkbookError, match="file does not exist"):
        ports.ctcae.read_set(tmp_path / "missing.xlsx")
    assert real_ports(Settings(ctcae_xlsx=None)).ctcae.configured() is None
    shipped = real_ports(Settings()).ctcae.shipped()  # NCI's terms ship with the package
    assert shipped.version == "5.0" and len(shipped.terms) == 837


def test_ctcae_reads_the_configured_workbook(shared_dir):
    import hashlib

    workbook = shared_dir / "data" / "ctcae" / "CTCAE_v5.0_2017-11-27.xlsx"
    ports = real_ports(Settings(ctcae_xlsx=workbook))
    assert ports.ctcae.configured() == workbook
    read = ports.ctcae.read_set(workbook)
    assert read.sha256 == hashlib.sha256(workbook.read_bytes()).hexdigest() == ports.ctcae.sha256(workbook)
    assert len(read.terms) > 800 and any(t.term == "Anemia" for t in read.terms)
