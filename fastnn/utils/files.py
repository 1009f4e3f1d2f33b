"""Files written by fastnn: parent directories and atomic writes.

Used by model saving (``fastnn.models.saving``) and by the callbacks that write files
(``ModelCheckpoint``, ``CSVLogger``, ``BackupAndRestore``).
"""

import os
import tempfile


def make_parent_dirs(filepath):
    """Create the directories above ``filepath`` that do not exist yet."""
    directory = os.path.dirname(filepath)
    if directory:
        os.makedirs(directory, exist_ok=True)


def atomic_write(filepath, write_fn, overwrite=True):
    """Write ``filepath`` through ``write_fn(binary_file)`` so that a crash (even
    SIGKILL) at any point leaves either the previous file or the complete new one.

    The data goes to a temporary file in the same directory, is fsynced and moved into
    place with ``os.replace`` (atomic on POSIX and Windows); the directory is then
    fsynced so that the rename itself survives a power loss.

    Args:
        filepath: the file to write; its directory must exist.
        write_fn: called once with the open temporary file.
        overwrite: whether an existing ``filepath`` may be replaced.

    Raises:
        FileExistsError: ``filepath`` exists and ``overwrite`` is False.
        FileNotFoundError: the directory of ``filepath`` does not exist.
    """
    filepath = os.fspath(filepath)
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath} exists and overwrite=False.")
    directory = os.path.dirname(os.path.abspath(filepath))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"Cannot save to {filepath}: directory {directory} does not exist.")
    fd, tmp = tempfile.mkstemp(prefix=".fastnn-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:  # some file systems cannot fsync a directory
        pass
