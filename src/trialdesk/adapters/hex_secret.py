"""Secrets written as hex text (the randomization seed, the audit trail's HMAC key): the one parser of both."""

from __future__ import annotations

from trialdesk.domain.errors import InvalidInput


def parse_hex_secret(text: str, *, min_bytes: int, field: str) -> bytes:
    """Bytes written as hex (whitespace ignored), at least ``min_bytes`` of them; ``InvalidInput`` naming ``field``."""
    cleaned = "".join(text.split())
    try:
        secret = bytes.fromhex(cleaned)
    except ValueError:
        raise InvalidInput("must be hexadecimal", field=field) from None
    if len(secret) < min_bytes:
        raise InvalidInput(
            f"must be at least {min_bytes} bytes ({2 * min_bytes} hex digits), got {len(secret)}", field=field
        )
    return secret
