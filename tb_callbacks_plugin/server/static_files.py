"""Serving the built frontend from the package's `static/` directory.

Paths are resolved with `werkzeug.security.safe_join` and then checked again
after symlinks are resolved, so no request reads a file outside the static
root. Files are revalidated by ETag after a short max-age: the entry module
keeps its name across releases, so it must not be cached for long.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import threading

from tensorboard.backend import http_util
from werkzeug import security, wrappers

DEFAULT_STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
MAX_AGE_SECONDS = 60
MAX_FILE_BYTES = 64 * 1024 * 1024

# Explicit because `mimetypes` depends on the host's tables (some map .js to
# application/x-javascript, which a module script with nosniff refuses).
_CONTENT_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".txt": "text/plain",
    ".wasm": "application/wasm",
}


def content_type(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    return _CONTENT_TYPES.get(ext) or mimetypes.guess_type(path)[0] or "application/octet-stream"


class NotFound(Exception):
    """No servable file at the requested path."""


class StaticFiles:
    """Files under `root`, answered with content type, ETag and max-age.

    Args:
      root: the directory to serve; requests never leave it.

    Example:

    ```python
    files = StaticFiles(DEFAULT_STATIC_DIR)
    response = files.respond(request, "index.js")
    ```
    """

    def __init__(self, root: str = DEFAULT_STATIC_DIR) -> None:
        self.root = os.path.realpath(root)
        self._lock = threading.Lock()
        # path -> (mtime_ns, size, etag, bytes)
        self._cache: dict[str, tuple[int, int, str, bytes]] = {}

    def resolve(self, subpath: str) -> str:
        """The real path of `subpath` below the root.

        Raises:
          NotFound: the path escapes the root, is hidden, or is not a file.
        """
        if not subpath or "\\" in subpath or "\x00" in subpath:
            raise NotFound(subpath)
        parts = subpath.split("/")
        if any(part.startswith(".") for part in parts):  # "..", ".hidden"
            raise NotFound(subpath)
        joined = security.safe_join(self.root, subpath)
        if joined is None:
            raise NotFound(subpath)
        real = os.path.realpath(joined)
        if os.path.commonpath([real, self.root]) != self.root or not os.path.isfile(real):
            raise NotFound(subpath)
        return real

    def _read(self, real: str) -> tuple[str, bytes]:
        st = os.stat(real)
        if st.st_size > MAX_FILE_BYTES:
            raise NotFound(real)
        with self._lock:
            cached = self._cache.get(real)
        if cached is not None and cached[0] == st.st_mtime_ns and cached[1] == st.st_size:
            return cached[2], cached[3]
        with open(real, "rb") as f:
            body = f.read()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        with self._lock:
            self._cache[real] = (st.st_mtime_ns, st.st_size, etag, body)
        return etag, body

    def respond(self, request: wrappers.Request, subpath: str) -> wrappers.Response:
        """The response for `GET static/<subpath>`.

        Raises:
          NotFound: see `resolve`.
        """
        real = self.resolve(subpath)
        try:
            etag, body = self._read(real)
        except OSError:
            raise NotFound(subpath) from None
        headers = [("ETag", etag)]
        if etag in request.headers.get("If-None-Match", ""):
            return wrappers.Response(
                status=304,
                headers=[
                    *headers,
                    ("Cache-Control", f"private, max-age={MAX_AGE_SECONDS}"),
                    ("X-Content-Type-Options", "nosniff"),
                ],
            )
        return http_util.Respond(request, body, content_type(real), expires=MAX_AGE_SECONDS, headers=headers)
