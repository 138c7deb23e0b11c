"""The file system layer: local paths, and URLs such as `s3://` and `gs://`.

Local paths (and `file://` URLs) are handled by the callers with `os`, as
before. A URL goes to a `Backend`:

- fsspec (`pip install 'tb-callbacks-plugin[s3]'` or `[gcs]` for s3fs /
  gcsfs) for any scheme fsspec knows and can import;
- TensorFlow's `tf.io.gfile` when fsspec cannot serve the scheme (e.g. `gs://`
  without gcsfs) and TensorFlow is already imported as the Keras backend and
  serves it. This module never imports TensorFlow itself: a TF-free install
  stays TF-free.

Credentials, endpoints and regions come from the usual places of the library
in use (for S3: `AWS_*` environment variables, `~/.aws`, `AWS_ENDPOINT_URL`;
fsspec also reads `FSSPEC_<SCHEME>_<OPTION>` variables) or from
`storage_options`, which are passed to the fsspec file system.

How event files are written to stores without append is described in
`object_file`.
"""

from __future__ import annotations

import os
import posixpath
import re
import sys
from collections.abc import Iterator
from typing import Any

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# Object stores whose top-level "directory" is a bucket: `makedirs` there
# would create a bucket, where a missing one must be an error instead.
_BUCKET_SCHEMES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "oss", "r2"})
# tf.io.gfile schemes we do not use: TF 2.21's ram:// appends when a file is
# rewritten, which would duplicate records.
_GFILE_EXCLUDED = frozenset({"ram", "", "file"})
_EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs"}
_READ_BATCH = 64  # files fetched concurrently by `read_many`


def url_scheme(path: str | os.PathLike) -> str | None:
    """The scheme of a URL (`"s3"` for `s3://b/k`), or None for a local path."""
    if not isinstance(path, str):
        return None
    m = _SCHEME.match(path)
    return m.group(1).lower() if m else None


def local_path(path: str | os.PathLike) -> str | None:
    """`path` as a local file system path, or None when it is a remote URL."""
    path = os.fspath(path)
    scheme = url_scheme(path)
    if scheme is None:
        return path
    if scheme == "file":
        return path[len("file://") :] or "/"
    return None


def join(url: str, *names: str) -> str:
    """`url` with path components appended (`posixpath.join`, keeping `scheme://`)."""
    return posixpath.join(url, *names)


def relative(url: str, root: str) -> str:
    """The path of `url` below `root`, "/"-separated ("." for `root` itself)."""
    return posixpath.relpath(_after_scheme(url).rstrip("/") or "/", _after_scheme(root).rstrip("/") or "/")


def _after_scheme(url: str) -> str:
    m = _SCHEME.match(url)
    rest = url[m.end() :] if m else url
    # Keep paths absolute so that relpath works for both "b/k" and "/k".
    return rest if rest.startswith("/") else "/" + rest


def describe_error(error: BaseException) -> str:
    text = str(error).strip() or repr(error)
    return f"{type(error).__name__}: {text}"


def error_for(action: str, url: str, error: BaseException) -> OSError:
    """A clear `OSError` (of the closest built-in kind) for a failed operation.

    Missing bucket or path -> FileNotFoundError, refused credentials ->
    PermissionError, unreachable endpoint -> ConnectionError, anything else
    -> OSError; the message names the URL, the cause and what to check.
    """
    name = type(error).__name__
    text = describe_error(error)
    lowered = text.lower()
    cls: type[OSError]
    if (
        isinstance(error, FileNotFoundError)
        or "nosuchbucket" in lowered
        or "bucket does not exist" in lowered
    ):
        cls, hint = FileNotFoundError, "does the bucket exist, and is the URL right?"
    elif (
        isinstance(error, PermissionError)
        or "credential" in lowered
        or "accessdenied" in lowered.replace(" ", "")
        or "invalidaccesskeyid" in lowered
        or "signaturedoesnotmatch" in lowered
        or "forbidden" in lowered
    ):
        cls, hint = PermissionError, "check the credentials and their permissions on the bucket"
    elif (
        isinstance(error, (ConnectionError, TimeoutError))
        or "connect" in lowered
        or "endpoint" in lowered
        or "timeout" in lowered
        or "timed out" in lowered
        or "Connection" in name
    ):
        cls, hint = ConnectionError, "check the network and the endpoint (AWS_ENDPOINT_URL, proxies)"
    else:
        cls, hint = OSError, "check the URL, the credentials and the network"
    return cls(f"cannot {action} {url}: {text} ({hint})")


class Backend:
    """Whole-object operations on one URL scheme."""

    def put(self, url: str, data: bytes) -> None:
        """Writes `data` as the whole content of `url`, replacing any old one."""
        raise NotImplementedError

    def read(self, url: str) -> bytes:
        raise NotImplementedError

    def read_many(self, urls: list[str]) -> Iterator[tuple[str, bytes]]:
        """`(url, content)` for each of `urls` still there, in order."""
        for url in urls:
            try:
                yield url, self.read(url)
            except FileNotFoundError:
                continue  # removed since it was listed

    def size(self, url: str) -> int:
        raise NotImplementedError

    def isdir(self, url: str) -> bool:
        raise NotImplementedError

    def find_files(self, url: str) -> list[str]:
        """URLs of every file below `url`, sorted."""
        raise NotImplementedError

    def prepare_dir(self, url: str) -> None:
        """Makes `url` ready to hold files (a no-op on object stores)."""
        raise NotImplementedError


class FsspecBackend(Backend):
    def __init__(self, fs: Any, scheme: str) -> None:
        self.fs = fs
        self.scheme = scheme

    def _path(self, url: str) -> str:
        return self.fs._strip_protocol(url)

    def _url(self, path: str) -> str:
        return self.fs.unstrip_protocol(path)

    def put(self, url: str, data: bytes) -> None:
        # One PUT of the whole object: readers see the old or the new
        # content, never a mix.
        self.fs.pipe_file(self._path(url), data)

    def read(self, url: str) -> bytes:
        return self.fs.cat_file(self._path(url))

    def read_many(self, urls: list[str]) -> Iterator[tuple[str, bytes]]:
        if not getattr(self.fs, "async_impl", False):
            yield from super().read_many(urls)
            return
        from fsspec.asyn import sync

        # Async file systems (s3fs, gcsfs) fetch a batch concurrently: one
        # round trip per batch instead of per file. (Not fs.cat: it expands
        # glob characters, which run names may contain.) Batches bound the
        # memory held at once.
        for i in range(0, len(urls), _READ_BATCH):
            batch = urls[i : i + _READ_BATCH]
            coros = [self.fs._cat_file(self._path(u)) for u in batch]
            contents = sync(self.fs.loop, _gather, coros)
            for url, content in zip(batch, contents, strict=True):
                if isinstance(content, FileNotFoundError):
                    continue  # removed since it was listed
                if isinstance(content, BaseException):
                    raise content
                yield url, content

    def size(self, url: str) -> int:
        return int(self.fs.size(self._path(url)))

    def isdir(self, url: str) -> bool:
        path = self._path(url)
        self.fs.invalidate_cache(path)  # listings are cached; a run grows
        return self.fs.isdir(path)

    def find_files(self, url: str) -> list[str]:
        path = self._path(url)
        self.fs.invalidate_cache(path)
        return sorted(self._url(p) for p in self.fs.find(path))

    def prepare_dir(self, url: str) -> None:
        if self.scheme not in _BUCKET_SCHEMES:
            self.fs.makedirs(self._path(url), exist_ok=True)


async def _gather(coros: list) -> list:
    import asyncio

    return await asyncio.gather(*coros, return_exceptions=True)


class GfileBackend(Backend):
    """`tf.io.gfile`, used only when TensorFlow is already loaded (see module doc)."""

    def __init__(self, gfile: Any) -> None:
        self.gfile = gfile

    def put(self, url: str, data: bytes) -> None:
        with self.gfile.GFile(url, "wb") as f:
            f.write(data)

    def read(self, url: str) -> bytes:
        with self.gfile.GFile(url, "rb") as f:
            return f.read()

    def read_many(self, urls: list[str]) -> Iterator[tuple[str, bytes]]:
        for url in urls:
            if self.gfile.exists(url):  # else removed since it was listed
                yield url, self.read(url)

    def size(self, url: str) -> int:
        return int(self.gfile.stat(url).length)

    def isdir(self, url: str) -> bool:
        return self.gfile.isdir(url)

    def find_files(self, url: str) -> list[str]:
        found: list[str] = []
        for dirpath, _, filenames in self.gfile.walk(url):
            found.extend(join(dirpath, name) for name in filenames)
        return sorted(found)

    def prepare_dir(self, url: str) -> None:
        # TF's GCS file system checks the bucket here and never creates one.
        self.gfile.makedirs(url)


def _tensorflow_gfile(scheme: str) -> Any | None:
    """`tf.io.gfile` if TF is loaded as Keras's backend and serves `scheme`."""
    tf = sys.modules.get("tensorflow")
    keras = sys.modules.get("keras")
    if tf is None or keras is None or scheme in _GFILE_EXCLUDED:
        return None
    try:
        if keras.backend.backend() != "tensorflow":
            return None
        gfile = tf.io.gfile
        if scheme not in gfile.get_registered_schemes():
            return None
    except Exception:  # noqa: BLE001 - a half-imported TF must not break logging
        return None
    return gfile


def backend_for(url: str, storage_options: dict[str, Any] | None = None) -> Backend:
    """The `Backend` serving `url`'s scheme.

    Raises:
      ImportError: nothing here serves the scheme; says what to install.
    """
    scheme = url_scheme(url)
    if scheme is None:
        raise ValueError(f"not a URL: {url!r}")
    reason: BaseException | None = None
    try:
        import fsspec

        fsspec.get_filesystem_class(scheme)  # ImportError / ValueError if not served
    except (ImportError, ValueError) as e:
        reason = e
    else:
        fs, _ = fsspec.core.url_to_fs(url, **(storage_options or {}))
        return FsspecBackend(fs, scheme)
    gfile = _tensorflow_gfile(scheme)
    if gfile is not None:
        return GfileBackend(gfile)
    extra = _EXTRAS.get(scheme)
    how = f"pip install 'tb-callbacks-plugin[{extra}]'" if extra else "install fsspec and its package for it"
    raise ImportError(f"no file system for {scheme}:// URLs such as {url!r} ({reason}); {how}") from reason


def read_bytes(path: str | os.PathLike, storage_options: dict[str, Any] | None = None) -> bytes:
    """The whole content of a local file or of a URL.

    Raises:
      FileNotFoundError: it does not exist.
      OSError: it cannot be read (for a URL: a clear message, see `error_for`).
    """
    path = os.fspath(path)
    local = local_path(path)
    if local is not None:
        with open(local, "rb") as f:
            return f.read()
    backend = backend_for(path, storage_options)
    try:
        return backend.read(path)
    except Exception as e:  # noqa: BLE001 - every library raises its own
        raise error_for("read", path, e) from e


# The bytes of a whole file, as readers decode them. Files are read, never
# mapped: a mapping of a file cut short meanwhile (a crashed writer's file
# truncated, a run rewritten) kills the reading process with SIGBUS.
Contents = bytes
# A large local file's segment (scalar_layout.FileReader): a read-only view of a reused buffer.
Segment = bytes | memoryview


def file_size(path: str | os.PathLike, storage_options: dict[str, Any] | None = None) -> int:
    """Size in bytes of a local file or of a URL (for progress bars)."""
    path = os.fspath(path)
    local = local_path(path)
    if local is not None:
        return os.path.getsize(local)
    backend = backend_for(path, storage_options)
    try:
        return backend.size(path)
    except Exception as e:  # noqa: BLE001 - every library raises its own
        raise error_for("read", path, e) from e
