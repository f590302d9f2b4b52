"""Walking the file store's tree one component at a time, never following a symbolic link.

Every path the file store touches is opened relative to the directory above it (``dir_fd``) with
``O_NOFOLLOW``, anew for each operation: a check made once and remembered would go stale the moment a
directory of the tree is swapped for a symbolic link. What is found where the store expects its own
directory or regular file decides what happens:

- a directory or a regular file: used;
- nothing: ``FileNotFoundError`` (the caller decides whether that means "absent" or "create it");
- a regular file where a directory should be, or a directory where a value should be: the layout
  errors ``NotADirectoryError`` / ``IsADirectoryError`` (a key cannot be both a value and a prefix);
- anything else (a symbolic link, a FIFO, a socket, a device): :class:`UnsafePath`. Nothing is read
  from it, written through it or followed.

Files are opened with ``O_NONBLOCK`` so that opening a FIFO never waits for a writer, and checked with
one ``fstat`` of the opened descriptor (no separate, racy ``stat`` of the name).
"""

from __future__ import annotations

import errno
import os
import stat

from ..errors import UnsafePath

__all__ = ["close_all", "describe", "open_dir", "open_file", "open_regular", "open_root", "refuse_non_directory"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_ROOT_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
#: a descriptor that only serves as ``dir_fd`` for the next lookup (Linux O_PATH): a cheaper open (no
#: file is opened for I/O), which is what a read's walk needs; it cannot be listed or fsynced
_LOOKUP = getattr(os, "O_PATH", 0)
_LOOKUP_DIR_FLAGS = (_DIR_FLAGS & ~os.O_NONBLOCK) | _LOOKUP if _LOOKUP else _DIR_FLAGS
_LOOKUP_ROOT_FLAGS = _ROOT_FLAGS | _LOOKUP
_FILE_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
#: what open(O_NOFOLLOW) reports for a symbolic link: ELOOP on Linux and macOS, EMLINK on FreeBSD
_SYMLINK_ERRNOS = frozenset({errno.ELOOP, errno.EMLINK})


def describe(mode: int) -> str:
    """What a non-regular, non-directory entry is, for an error message."""
    if stat.S_ISLNK(mode):
        return "a symbolic link (never followed)"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def open_root(root: str, *, lookup_only: bool = False) -> int:
    """A descriptor of the store's root directory, created when missing.

    The root is the one path that is followed as configured (symbolic links in it included): it is the
    caller's choice of where the store lives. Everything below it is walked with :func:`open_dir`.
    ``lookup_only``: see :func:`open_dir`.
    """
    flags = _LOOKUP_ROOT_FLAGS if lookup_only else _ROOT_FLAGS
    try:
        return os.open(root, flags)
    except FileNotFoundError:
        os.makedirs(root, exist_ok=True)
        return os.open(root, flags)


def refuse_non_directory(key: str, dir_fd: int, name: str, where: str) -> None:
    """After ENOTDIR on ``name``: raise UnsafePath unless it is a regular file (a layout fact)."""
    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return  # gone meanwhile: the caller's ENOTDIR handling stands
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        raise UnsafePath(key, where, describe(mode))


def open_dir(key: str, dir_fd: int, name: str, where: str, *, lookup_only: bool = False) -> int:
    """Open the directory ``name`` inside ``dir_fd`` without following a link (``where``: its path in the
    store, for messages). With ``lookup_only`` the descriptor serves only as the ``dir_fd`` of further
    opens (O_PATH on Linux: cheaper; it cannot be listed or fsynced).

    Raises FileNotFoundError when missing, NotADirectoryError when a regular file is there,
    UnsafePath for anything else.
    """
    try:
        return os.open(name, _LOOKUP_DIR_FLAGS if lookup_only else _DIR_FLAGS, dir_fd=dir_fd)
    except NotADirectoryError:  # O_DIRECTORY | O_NOFOLLOW on a link reports ENOTDIR too
        refuse_non_directory(key, dir_fd, name, where)
        raise


def open_file(key: str, dir_fd: int, name: str, where: str, flags: int, mode: int = 0o666) -> int:
    """Open the regular file ``name`` inside ``dir_fd`` (``flags``: access and creation flags).

    Raises FileNotFoundError when missing, IsADirectoryError for a directory, UnsafePath for a
    symbolic link or any other non-regular file (which is closed unread).
    """
    return open_regular(key, dir_fd, name, where, flags, mode)[0]


def open_regular(
    key: str, dir_fd: int, name: str, where: str, flags: int, mode: int = 0o666
) -> tuple[int, os.stat_result]:
    """:func:`open_file`, with the ``fstat`` of the opened descriptor (the file's identity and times)."""
    try:
        fd = os.open(name, flags | _FILE_FLAGS, mode, dir_fd=dir_fd)
    except OSError as err:
        if err.errno in _SYMLINK_ERRNOS:
            raise UnsafePath(key, where, describe(stat.S_IFLNK)) from None
        if err.errno == errno.ENXIO:  # a socket (or a FIFO opened for writing with no reader)
            refuse_non_directory(key, dir_fd, name, where)
        raise
    try:
        info = os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise
    found = info.st_mode
    if not stat.S_ISREG(found):
        os.close(fd)
        if stat.S_ISDIR(found):
            raise IsADirectoryError(errno.EISDIR, "a directory where a file should be", where)
        raise UnsafePath(key, where, describe(found))
    return fd, info


def close_all(fds: list[int]) -> None:
    """Close descriptors opened by a walk (innermost first)."""
    for fd in reversed(fds):
        os.close(fd)
