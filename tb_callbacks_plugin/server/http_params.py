"""Strict query-string parsing for the plugin's routes.

Werkzeug decodes query strings leniently (bad UTF-8 becomes U+FFFD), which
would turn a garbled run name into a lookup of a different name. Here every
problem with the query is a `RouteError` that the route answers with 400
and a sentence saying what was wrong.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping

MAX_QUERY_BYTES = 64 * 1024
MAX_FIELDS = 200
MAX_VALUE_CHARS = 4096


class RouteError(Exception):
    """A request the route cannot serve; answered as `{"error": message}`."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_query(environ: Mapping[str, object]) -> dict[str, list[str]]:
    """The request's query parameters, each name mapped to its values.

    Raises:
      RouteError: (400) the query is too long, has too many fields, or is not
        UTF-8 once percent-decoded.
    """
    raw = environ.get("QUERY_STRING") or ""
    if not isinstance(raw, str):
        raise RouteError(400, "query string is not text")
    if len(raw) > MAX_QUERY_BYTES:
        raise RouteError(400, f"query string is longer than {MAX_QUERY_BYTES} bytes")
    if not raw.isascii():
        # PEP 3333 hands over the raw bytes as latin-1; raw (not
        # percent-encoded) UTF-8 from a lax client is recovered here.
        try:
            raw = raw.encode("latin-1").decode("utf-8")
        except UnicodeError:
            raise RouteError(400, "query string is not valid UTF-8") from None
    try:
        pairs = urllib.parse.parse_qsl(
            raw, keep_blank_values=True, encoding="utf-8", errors="strict", max_num_fields=MAX_FIELDS
        )
    except UnicodeDecodeError:
        raise RouteError(400, "a query parameter is not valid UTF-8 once percent-decoded") from None
    except ValueError:
        raise RouteError(400, f"query has more than {MAX_FIELDS} parameters") from None
    params: dict[str, list[str]] = {}
    for name, value in pairs:
        if len(value) > MAX_VALUE_CHARS:
            raise RouteError(400, f"parameter {name[:40]!r} is longer than {MAX_VALUE_CHARS} characters")
        if "\x00" in value:
            raise RouteError(400, f"parameter {name[:40]!r} contains a NUL character")
        params.setdefault(name, []).append(value)
    return params


def one(params: Mapping[str, list[str]], name: str) -> str:
    """The single, non-empty value of parameter `name`.

    Raises:
      RouteError: (400) the parameter is missing, empty or repeated.
    """
    values = params.get(name)
    if not values:
        raise RouteError(400, f"missing parameter {name!r}")
    if len(values) > 1:
        raise RouteError(400, f"parameter {name!r} given {len(values)} times; give it once")
    if not values[0]:
        raise RouteError(400, f"parameter {name!r} is empty")
    return values[0]
