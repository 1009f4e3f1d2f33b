"""Files written by fastnn: user paths, parent directories and atomic writes.

Used by model saving (``fastnn.models.saving``) and by the callbacks that write files
(``ModelCheckpoint``, ``CSVLogger``, ``BackupAndRestore``).
"""

import errno
import os
import secrets

from .validation import refuse_argument


def user_path(filepath, what="filepath", owner=None):
    """``filepath`` (``str``, ``bytes`` or ``os.PathLike``) as a ``str``, checked early.

    ``bytes`` paths are accepted, as ``open`` accepts them, and decoded once with the
    file system encoding, so that every later message and join works on ``str``.

    Args:
        filepath: the path the user gave.
        what: the argument's name, for the message.
        owner: prefix of the message (e.g. "Model.save").

    Raises:
        ArgumentTypeError: ``filepath`` is not a path.
        ValueError: ``filepath`` is empty.
    """
    if not isinstance(filepath, (str, bytes, os.PathLike)):
        refuse_argument(what, filepath, "a non-empty path (str, bytes or os.PathLike)",
                        wrong_type=True, owner=owner)
    path = os.fsdecode(filepath)
    if not path:
        refuse_argument(what, filepath, "a non-empty path", owner=owner)
    return path


def make_parent_dirs(filepath):
    """Create the directories above ``filepath`` that do not exist yet."""
    directory = os.path.dirname(filepath)
    if directory:
        os.makedirs(directory, exist_ok=True)


def _create_temporary(directory, filepath):
    """(fd, path) of a new empty file in ``directory``, created with mode 0666 so that
    the kernel applies the umask (and any default ACL) exactly as for ``open(path, "w")``.

    Errors name the user's ``filepath``, not the hidden temporary name.
    """
    for _ in range(100):
        tmp = os.path.join(directory, f".fastnn-{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                           | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue
        except OSError as exc:
            raise OSError(exc.errno, f"Cannot save to {filepath}: cannot create a file in "
                                     f"{directory} ({exc.strerror})", filepath) from None
    raise FileExistsError(errno.EEXIST, f"Cannot save to {filepath}: no free temporary "
                                        f"name in {directory}", filepath)


def atomic_write(filepath, write_fn, overwrite=True):
    """Write ``filepath`` through ``write_fn(binary_file)`` so that a crash (even
    SIGKILL) at any point leaves either the previous file or the complete new one.

    The data goes to a temporary file in the directory of the file written, is fsynced
    and moved into place with ``os.replace`` (atomic on POSIX and Windows); the
    directory is then fsynced so that the rename itself survives a power loss.

    The result has the permissions a plain ``open(filepath, "wb")`` would give: a file
    that is replaced keeps its mode, and a new one gets ``0666 & ~umask``.  A symbolic
    link is written through, as editors and ``cp`` do: the file it points to is
    replaced (atomically, next to it) and the link stays a link.

    Args:
        filepath: the file to write (``str``, ``bytes`` or ``os.PathLike``); its
            directory must exist.
        write_fn: called once with the open temporary file.
        overwrite: whether an existing ``filepath`` may be replaced.

    Raises:
        FileExistsError: ``filepath`` exists and ``overwrite`` is False.
        FileNotFoundError: the directory of ``filepath`` does not exist.
        IsADirectoryError: ``filepath`` is a directory.
        OSError: the file cannot be written; the message names ``filepath``.
    """
    filepath = user_path(filepath)
    if not overwrite and os.path.lexists(filepath):
        raise FileExistsError(f"{filepath} exists and overwrite=False.")
    # Through a symbolic link (a chain of them, or a dangling one): write its target.
    target = os.path.realpath(filepath) if os.path.islink(filepath) else filepath
    if os.path.isdir(target) or filepath.endswith(os.sep):
        raise IsADirectoryError(f"Cannot save to {filepath}: it is a directory; give a "
                                f"file path.")
    directory = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"Cannot save to {filepath}: directory {directory} does not exist.")
    try:
        mode = os.stat(target).st_mode & 0o7777
    except OSError:
        mode = None  # a new file: the umask applied at creation is the right mode
    fd, tmp = _create_temporary(directory, filepath)
    try:
        with os.fdopen(fd, "wb") as f:
            if mode is not None and hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), mode)
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise OSError(exc.errno, f"Cannot save to {filepath}: {exc.strerror}",
                          filepath) from None
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
