"""The protocol's own texts in the page's language (issue 15).

The protocol is written in English (the registry record's language): criteria, arm labels, drug names and the
display labels of the screening reasons. ``operations.locale.translations`` gives them per language
(:class:`~trialdesk.domain.protocol.ProtocolTranslation`, every key checked against the protocol); a page shows the
translation where its language has one, and the English text otherwise.
"""

from __future__ import annotations

from trialdesk.domain.protocol import TRANSLATION_KINDS, Protocol
from trialdesk.entrypoints.web.i18n import language

__all__ = ["protocol_text"]


def protocol_text(protocol: Protocol, kind: str, key: str, default: str) -> str:
    """The text of ``kind`` (``criteria``, ``attestations``, ``labels``, ``arms``, ``drugs``) named ``key`` in the
    page's language; ``default`` (the English text) on an English page or where no translation is given."""
    if kind not in TRANSLATION_KINDS:
        raise KeyError(f"unknown kind of protocol text {kind!r} (kinds: {', '.join(TRANSLATION_KINDS)})")
    lang = language()
    if lang == "en":
        return default
    translation = protocol.operations.locale.translations.get(lang)
    if translation is None:
        return default
    texts: dict[str, str] = getattr(translation, kind)
    return texts.get(key, default)
