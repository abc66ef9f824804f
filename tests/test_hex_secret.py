"""Issue 15: the randomization seed and the audit HMAC key are read as hex by one parser (adapters/hex_secret)."""

from __future__ import annotations

import pytest

from trialdesk.adapters.audit_keys import ENV_KEY, parse_key
from trialdesk.adapters.randomization_secret import parse_seed
from trialdesk.domain.errors import InvalidInput

SIXTEEN = "00 11 22 33 44 55 66 77\n88 99 aa bb cc dd ee ff"  # 16 bytes, spaces and a line break


@pytest.mark.parametrize(("parse", "field"), [(parse_seed, "seed"), (parse_key, ENV_KEY)])
def test_both_secrets_parse_alike(parse, field):
    assert parse(SIXTEEN) == bytes(range(0x00, 0x100, 0x11))
    with pytest.raises(InvalidInput, match="must be hexadecimal") as bad:
        parse("zz" * 16)
    assert bad.value.problems[0].path == field
    with pytest.raises(InvalidInput, match=r"at least 16 bytes \(32 hex digits\), got 15"):
        parse("ab" * 15)
    assert parse("AB" * 16, field="x") == b"\xab" * 16
