"""Refuse input no route can use before it reaches a route: NUL bytes and JSON nested too deep.

A NUL byte in the path, the query string, a form field or a JSON string is stored by SQLite but refused by
PostgreSQL's driver (a 500, even for an anonymous login name or ``GET /trials/NCT07003074%00``); a JSON body of
100k nested brackets exhausts the parser's recursion (a ``RecursionError``). Both are answered here, once for
every route, with the API's 422 body naming the field (``path``, ``query.q``, ``username``, ``record.notes``),
so that nothing is written and no database ever sees them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Deepest JSON nesting accepted; the deepest document the API reads (a screening record) is about 5 levels.
MAX_JSON_DEPTH = 64
_NUL = "\x00"


def json_depth_exceeds(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``body`` nests arrays/objects deeper than ``limit``: one linear scan, brackets in strings skipped."""
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


def nul_field(value: Any, path: str = "") -> str | None:
    """The dotted path of the first string (key or value) in ``value`` holding a NUL byte, or None."""
    if isinstance(value, str):
        return (path or "body") if _NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if _NUL in str(key):
                return here
            found = nul_field(item, here)
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = nul_field(item, f"{path}.{index}" if path else str(index))
            if found:
                return found
    return None


def url_problem(scope: Scope) -> tuple[str, str] | None:
    """(field, message) for a NUL byte in the path or the query string."""
    raw_path = scope.get("raw_path") or scope.get("path", "").encode()
    if b"\x00" in unquote_to_bytes(raw_path) or _NUL in scope.get("path", ""):
        return "path", "contains a NUL byte"
    query = scope.get("query_string", b"").decode("latin-1")
    for key, value in parse_qsl(query, keep_blank_values=True):
        if _NUL in key or _NUL in value:
            return f"query.{key.replace(_NUL, '')}", "contains a NUL byte"
    return None


def body_problem(content_type: str, body: bytes) -> tuple[str, str] | None:
    """(field, message) for a NUL byte in a form field or JSON string, or JSON nested too deep."""
    if content_type.startswith("application/x-www-form-urlencoded"):
        for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            if _NUL in key or _NUL in value:
                return key.replace(_NUL, "") or "body", "contains a NUL byte"
        return None
    if content_type.startswith("application/json") or content_type.endswith("+json"):
        if json_depth_exceeds(body):
            return "body", f"nested deeper than {MAX_JSON_DEPTH} levels"
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            return None  # malformed JSON: the route's own parsing answers it
        found = nul_field(document)
        if found:
            return found, "contains a NUL byte"
    return None


class InputGuard:
    """ASGI middleware: answers 422 for the input above, before authentication and before any route runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = url_problem(scope)
        if problem:
            await _refuse(send, problem)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        content_type = headers.get("content-type", "").lower()
        if scope.get("method") not in ("POST", "PUT", "PATCH", "DELETE") or not (
            content_type.startswith("application/x-www-form-urlencoded") or "json" in content_type
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        problem = body_problem(content_type, body)
        if problem:
            await _refuse(send, problem)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _refuse(send: Send, problem: tuple[str, str]) -> None:
    field, message = problem
    payload = json.dumps(
        {"error": "InvalidInput", "message": f"{field}: {message}", "problems": [{"field": field, "message": message}]}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})
