"""Security headers on every response (OWASP ASVS 14.4): pages, the JSON API, errors and static files alike.

The Content-Security-Policy allows exactly what the templates need:

- scripts: the inline scripts of the templates (``capture_ae_form.html``'s CTCAE grade filter, ``screening_form.html``'s
  "More rows" of prior therapies), allowed by the SHA-256 of each text they can render to, computed from the
  templates themselves at import so an edit to a script cannot silently fall out of the policy; nothing else, no
  ``'unsafe-inline'``;
- styles: ``/static/style.css`` plus ``'unsafe-inline'``, because the figures are matplotlib SVGs embedded in the
  page, whose ``<style>`` element and ``style=`` attributes cannot be moved to a file (inline styles cannot run
  code; the script policy is the one that matters against XSS);
- images: the site itself and ``data:`` URIs; frames: none, and no page may be framed (``frame-ancestors 'none'``
  with ``X-Frame-Options: DENY`` for older browsers).

``Strict-Transport-Security`` is sent only over HTTPS (directly or behind a proxy that says so): over plain HTTP
a browser ignores it, and a development server must stay reachable.
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trialdesk.entrypoints.web.auth import is_https
from trialdesk.entrypoints.web.templating import templates

_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
#: The template contexts that pick each branch of the inline script's ``{% if %}``.
_SCRIPT_CONTEXTS: tuple[dict[str, object], ...] = ({"st": None, "v": {}}, {"st": "x", "v": {"term": "x"}})


def _inline_script_hashes() -> tuple[str, ...]:
    """``'sha256-...'`` sources for every text the templates' inline scripts render to."""
    hashes: set[str] = set()
    assert templates.env.loader is not None
    for name in templates.env.list_templates(extensions=["html"]):
        source, _, _ = templates.env.loader.get_source(templates.env, name)
        for block in _SCRIPT.findall(source):
            for context in _SCRIPT_CONTEXTS:
                # rendered with its tags, so Jinja keeps the block's final newline (it drops a template's last one)
                text = templates.env.from_string(f"<script>{block}</script>").render(**context)[8:-9]
                hashes.add("'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'")
    return tuple(sorted(hashes))


def content_security_policy() -> str:
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' " + " ".join(_inline_script_hashes()),
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-src 'none'",
            "frame-ancestors 'none'",
        ]
    )


CSP = content_security_policy()

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
HSTS = "max-age=31536000; includeSubDomains"


class SecurityHeaders:
    """Pure ASGI middleware, added last so it is the outermost: every response gets the headers, including the 413
    and 422 answered by the body limit and the input guard before any route runs. A header a route set stays."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = is_https(Request(scope))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                if https:
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, send_with_headers)
