"""Download-once, verify-always file cache shared by the dataset loaders.

A file is fetched into a temporary file in the cache directory, hashed while it
streams, and moved into place with ``os.replace`` only when its SHA-256 matches.
A crash, a dropped connection or a corrupted transfer therefore never leaves a
file under the final name, and a file under the final name is always one that
matched its checksum when it was written.
"""

import hashlib
import os
import re
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import warnings

from ..utils.validation import check_path, check_str, refuse_argument

_CHUNK = 1 << 20
_TIMEOUT_S = 60
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def fastnn_home():
    """The fastnn home directory: ``$FASTNN_HOME`` if set, else ``~/.fastnn``."""
    home = os.environ.get("FASTNN_HOME")
    if home:
        return os.path.abspath(os.path.expanduser(home))
    return os.path.join(os.path.expanduser("~"), ".fastnn")


def default_cache_dir():
    """Where downloaded datasets are kept: ``<fastnn home>/datasets``."""
    return os.path.join(fastnn_home(), "datasets")


def sha256_of(path):
    """The hex SHA-256 digest of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(origin, out):
    """Copy the bytes at URL ``origin`` into the binary file object ``out``.

    The one place that touches the network; tests replace it.
    """
    request = urllib.request.Request(origin, headers={"User-Agent": "fastnn"})
    with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
        shutil.copyfileobj(response, out, _CHUNK)


class _HashingWriter:
    """A write-only file wrapper that hashes what passes through it."""

    def __init__(self, f):
        self._f = f
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data):
        self.digest.update(data)
        self.size += len(data)
        return self._f.write(data)


def _normalize_hash(file_hash):
    expected = "a SHA-256 digest (64 hexadecimal characters) or None"
    if file_hash is None:
        return None
    if not isinstance(file_hash, str):
        refuse_argument("file_hash", file_hash, expected, wrong_type=True)
    value = file_hash.strip().lower()
    if value.startswith("sha256:"):
        value = value[len("sha256:"):]
    if not _SHA256_RE.match(value):
        refuse_argument("file_hash", file_hash, expected)
    return value


def _manual_hint(target, file_hash, origin):
    hint = f"download {origin} yourself and place it at {target}"
    if file_hash:
        hint += f" (its SHA-256 must be {file_hash})"
    return hint


def get_file(fname, origin, file_hash=None, cache_dir=None, cache_subdir=None):
    """Return the local path of ``fname``, downloading it from ``origin`` once.

    If the file is already cached and matches ``file_hash`` it is used as is,
    without touching the network. Otherwise it is downloaded into a temporary
    file next to its final location, its SHA-256 is checked, and only then is
    it moved into place. A cached file that no longer matches its checksum is
    downloaded again (and replaced only if the new copy matches).

    Args:
        fname: File name inside the cache directory. An absolute path (after
            ``~`` expansion) is used as the location itself, as in Keras.
        origin: URL to fetch the file from (``https://``, ``http://`` or
            ``file://``).
        file_hash: Expected SHA-256 of the file as 64 hex characters
            (an optional ``"sha256:"`` prefix is accepted), or None to skip
            verification.
        cache_dir: Directory holding the cache. Defaults to
            ``$FASTNN_HOME/datasets``, i.e. ``~/.fastnn/datasets`` when
            ``FASTNN_HOME`` is unset.
        cache_subdir: Optional sub-directory of ``cache_dir`` for this file
            (e.g. ``"fashion-mnist"``).

    Returns:
        The absolute path of the verified local file.

    Raises:
        ValueError: If an argument is invalid, or the downloaded file does not
            match ``file_hash`` (nothing is written to the cache then).
        OSError: If the file cannot be downloaded (no network, unreachable
            origin) or the cache directory cannot be written. The message
            says where to place the file by hand.
    """
    check_path("fname", fname)
    check_str("origin", origin)
    file_hash = _normalize_hash(file_hash)

    if cache_dir is None:
        cache_dir = default_cache_dir()
    else:
        check_path("cache_dir", cache_dir, allow_empty=True)
    directory = os.path.expanduser(os.fspath(cache_dir))
    if cache_subdir:
        directory = os.path.join(directory, os.fspath(cache_subdir))
    # os.path.join drops `directory` when fname is absolute (Keras' behaviour).
    target = os.path.abspath(os.path.join(directory, os.path.expanduser(os.fspath(fname))))

    if os.path.isfile(target):
        if file_hash is None:
            return target
        actual = sha256_of(target)
        if actual == file_hash:
            return target
        warnings.warn(
            f"The cached file {target} has SHA-256 {actual}, expected {file_hash}; "
            "it is corrupt or outdated and will be downloaded again.",
            RuntimeWarning,
            stacklevel=2,
        )

    target_dir = os.path.dirname(target)
    try:
        os.makedirs(target_dir, exist_ok=True)
    except OSError as e:
        raise OSError(
            f"Cannot create the dataset cache directory {target_dir}: {e}. Set the "
            "FASTNN_HOME environment variable or pass `cache_dir` to use another "
            "directory."
        ) from e

    print(f"Downloading data from {origin}", file=sys.stderr)
    try:
        fd, tmp_path = tempfile.mkstemp(
            dir=target_dir, prefix="." + os.path.basename(target) + ".", suffix=".part"
        )
    except OSError as e:
        raise OSError(
            f"Cannot write to the dataset cache directory {target_dir}: {e}. Set "
            "FASTNN_HOME or pass `cache_dir` to use another directory."
        ) from e
    try:
        with os.fdopen(fd, "wb") as out:
            writer = _HashingWriter(out)
            try:
                _fetch(origin, writer)
            except (urllib.error.URLError, OSError, ValueError) as e:
                # URLError/HTTPError/timeouts are OSErrors; ValueError covers a
                # malformed URL. Either way, say how to get going offline.
                if isinstance(e, urllib.error.HTTPError):
                    reason = f"HTTP error {e.code} ({e.reason})"
                else:
                    reason = getattr(e, "reason", None) or e
                raise OSError(
                    f"Could not download {os.path.basename(target)} from {origin}: "
                    f"{reason}. Check your network connection, or "
                    f"{_manual_hint(target, file_hash, origin)}."
                ) from e
            out.flush()
            os.fsync(out.fileno())
        actual = writer.digest.hexdigest()
        if file_hash is not None and actual != file_hash:
            raise ValueError(
                f"Checksum mismatch for {os.path.basename(target)} downloaded from "
                f"{origin}: expected SHA-256 {file_hash}, got {actual} "
                f"({writer.size} bytes). The download was discarded; nothing was "
                f"written to {target}. Try again later, or "
                f"{_manual_hint(target, file_hash, origin)}."
            )
        os.replace(tmp_path, target)
    except BaseException:
        try:
            os.unlink(tmp_path)
        except OSError:
            pass
        raise
    return target
