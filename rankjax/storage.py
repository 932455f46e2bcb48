"""Run-directory files on any filesystem TensorFlow can write: local folders and URLs alike.

Every file rankjax writes into a run directory (config, metrics, results, CSVs,
pictures, TensorBoard) goes through these functions, which use `tf.io.gfile`, so a
`--workdir gs://bucket/run` on a pod is written to the bucket by every host, never
into a local folder named `gs:`. Orbax writes the checkpoints with its own path
handling, which takes the same local paths and gs:// URLs.

Atomic replacement: on a local filesystem a file is written to a temporary name beside
it and renamed over the old one, so a reader (or a run killed mid-write) never sees half
a file. Object stores (gs://, s3://) have no rename; there an object becomes visible
only when its upload completes, so it is written in place, which readers see
atomically as well. Other URL schemes (e.g. TensorFlow's ram://) use the rename path
when the filesystem has one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import uuid
from typing import IO, Callable, Iterator

import tensorflow as tf

from rankjax.errors import StorageError

# Schemes whose objects appear whole when their upload completes, and which have no
# atomic rename: written in place.
OBJECT_STORE_SCHEMES = ("gs", "s3")


class DiskFull(StorageError):
    """No space left (or the disk quota spent) where a file was being written."""


DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# How a full disk reads once TensorFlow's filesystems, orbax or tensorstore have turned
# the OS's error into their own (tensorstore: "... No space left on device
# [os_error_code='28']", raised by orbax as a ValueError).
DISK_FULL_TEXTS = tuple(os.strerror(code) for code in DISK_FULL_ERRNOS) + tuple(
    f"os_error_code='{code}'" for code in DISK_FULL_ERRNOS)


def is_disk_full(error: BaseException) -> bool:
    """Whether `error`, or an error it was raised from or while handling (also inside an
    ExceptionGroup), is a full disk or a spent quota.

    >>> is_disk_full(ValueError("Failed to write: No space left on device"))
    True
    >>> is_disk_full(OSError(errno.EACCES, "Permission denied"))
    False
    """
    seen, pending = set(), [error]
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, DiskFull) or (isinstance(error, OSError)
                                           and error.errno in DISK_FULL_ERRNOS):
            return True
        if any(text in str(error) for text in DISK_FULL_TEXTS):
            return True
        pending += [error.__cause__, error.__context__, *getattr(error, "exceptions", ())]
    return False


def scheme(path: str) -> str:
    """'' for a local path, else the URL scheme ('gs', 'ram', ...)."""
    return path.split("://", 1)[0] if "://" in path else ""


def is_local(path: str) -> bool:
    return not scheme(path)


def join(path: str, *parts: str) -> str:
    return os.path.join(path, *parts) if is_local(path) else posixpath.join(path, *parts)


def dirname(path: str) -> str:
    return os.path.dirname(path) if is_local(path) else posixpath.dirname(path.rstrip("/"))


def basename(path: str) -> str:
    return os.path.basename(path) if is_local(path) else posixpath.basename(path.rstrip("/"))


def absolute(path: str) -> str:
    """An absolute local path, or the URL as it is."""
    return os.path.abspath(path) if is_local(path) else path


def _reason(error: Exception) -> str:
    text = getattr(error, "message", None) or str(error) or type(error).__name__
    return text.strip().splitlines()[0]


@contextlib.contextmanager
def _named(path: str, doing: str):
    """Turns TensorFlow's and the OS's file errors into one StorageError naming `path`."""
    try:
        yield
    except (tf.errors.OpError, OSError) as error:
        if isinstance(error, StorageError):
            raise
        if is_disk_full(error):
            raise DiskFull(f"cannot {doing} {path!r}: no space left on its disk (disk full "
                           f"or quota spent)") from error
        raise StorageError(f"cannot {doing} {path!r}: {_reason(error)}") from error


def exists(path: str) -> bool:
    with _named(path, "look at"):
        return tf.io.gfile.exists(path)


def isdir(path: str) -> bool:
    with _named(path, "look at"):
        return tf.io.gfile.isdir(path)


def isfile(path: str) -> bool:
    return exists(path) and not isdir(path)


def makedirs(path: str) -> None:
    with _named(path, "create the folder"):
        tf.io.gfile.makedirs(path)


def listdir(path: str) -> list[str]:
    with _named(path, "list"):
        return sorted(name.rstrip("/") for name in tf.io.gfile.listdir(path))


def glob(pattern: str) -> list[str]:
    with _named(pattern, "list"):
        return sorted(tf.io.gfile.glob(pattern))


def remove(path: str) -> None:
    """Deletes a file or a folder with everything in it; nothing if it does not exist."""
    with _named(path, "delete"):
        if tf.io.gfile.isdir(path):
            try:
                tf.io.gfile.rmtree(path)
            except tf.errors.NotFoundError:
                # ram:// lists by name prefix (a sibling "run2" shows up in "run" as a
                # file "2") and keeps no folder entries: delete the files it really has
                for name in list(walk_files(path)):
                    tf.io.gfile.remove(name)
        elif tf.io.gfile.exists(path):
            tf.io.gfile.remove(path)


def copytree(source: str, target: str) -> None:
    """Copies the folder `source` to `target` (which must not exist yet)."""
    source = source.rstrip("/")
    with _named(source, "copy"):
        for folder, _, files in list(tf.io.gfile.walk(source)):
            folder = folder.rstrip("/")
            if folder != source and not folder.startswith(source + "/"):
                continue  # a sibling with the same prefix (ram:// matches by prefix)
            relative = folder[len(source):].lstrip("/")
            destination = join(target, relative) if relative else target
            tf.io.gfile.makedirs(destination)
            for name in files:
                if tf.io.gfile.exists(join(folder, name)):  # see `remove`
                    tf.io.gfile.copy(join(folder, name), join(destination, name),
                                     overwrite=True)


def rename(source: str, target: str) -> None:
    """Moves a file or folder (a folder on an object store is copied, then deleted)."""
    with _named(source, "move"):
        if tf.io.gfile.isdir(source) and not is_local(source):
            copytree(source, target)
            tf.io.gfile.rmtree(source)
        else:
            tf.io.gfile.rename(source, target, overwrite=True)


def move_local_file(local: str, target: str) -> None:
    """Moves a file written locally (e.g. by a library that needs a local path) to
    `target`, a local path or URL."""
    if is_local(target):
        os.replace(local, target)
        return
    with _named(target, "write"):
        tf.io.gfile.copy(local, target, overwrite=True)
    os.remove(local)


def open_file(path: str, mode: str = "r") -> IO:
    """A file object for `path` (text or binary modes, as `open`); its folder is made
    when writing."""
    if any(m in mode for m in "wa"):
        makedirs(dirname(path) or ".")
    with _named(path, "open"):
        return tf.io.gfile.GFile(path, mode)


def read_text(path: str) -> str:
    with open_file(path) as f:
        return f.read()


def write_atomic(path: str, write: Callable[[IO], None], binary: bool = False) -> None:
    """Writes `path` through `write(file)` so that no reader sees half a file (see the
    module's docstring for object stores). A failed write (a full disk: DiskFull) leaves
    the old file as it was and no temporary file behind."""
    makedirs(dirname(absolute(path)) or ".")
    mode = "wb" if binary else "w"
    with _named(path, "write"):
        if scheme(path) in OBJECT_STORE_SCHEMES:
            with tf.io.gfile.GFile(path, mode) as f:
                write(f)
            return
        temporary = f"{path}.tmp{os.getpid()}.{uuid.uuid4().hex[:8]}"
        try:
            if is_local(path):
                with open(temporary, mode, **({} if binary else {"newline": ""})) as f:
                    write(f)
                os.replace(temporary, path)
            else:
                with tf.io.gfile.GFile(temporary, mode) as f:
                    write(f)
                tf.io.gfile.rename(temporary, path, overwrite=True)
        except BaseException:
            with contextlib.suppress(Exception):
                remove(temporary)
            raise


def append_text(path: str, text: str) -> None:
    """Appends `text` (e.g. one JSON line) to `path` whole or not at all: on a local disk
    a failed append (a full disk: DiskFull) is cut back to the file's old end, so the
    file never ends in half a line. (On a URL the filesystem's own append is used; a
    reader of such a file drops an unfinished last line.)"""
    if not is_local(path):
        with open_file(path, "a") as f:
            f.write(text)
        return
    makedirs(dirname(absolute(path)) or ".")
    with _named(path, "write"):
        with open(path, "a", newline="") as f:
            end = f.tell()
            try:
                f.write(text)
                f.flush()
            except BaseException:
                with contextlib.suppress(OSError):
                    f.truncate(end)
                raise


def walk_files(folder: str) -> Iterator[str]:
    """Every file below `folder` (paths), in sorted order."""
    folder = folder.rstrip("/")
    with _named(folder, "list"):
        for directory, _, files in sorted(tf.io.gfile.walk(folder)):
            directory = directory.rstrip("/")
            if directory == folder or directory.startswith(folder + "/"):
                for name in sorted(files):
                    if tf.io.gfile.exists(join(directory, name)):  # see `remove`
                        yield join(directory, name)


def check_writable(folder: str) -> None:
    """Makes `folder` and writes and deletes a small file in it; StorageError (one line
    naming the folder and the reason) if that fails: an unknown URL scheme, a bucket
    that cannot be reached, a read-only or missing parent folder."""
    if scheme(folder) and scheme(folder) not in _known_schemes():
        raise StorageError(f"cannot write the run directory {folder!r}: TensorFlow has no "
                           f"filesystem for {scheme(folder)}:// (known: "
                           f"{', '.join(s + '://' for s in sorted(_known_schemes()))})")
    probe = join(folder, f".rankjax_write_test_{os.getpid()}_{uuid.uuid4().hex[:8]}")
    try:
        makedirs(folder)
        with open_file(probe, "w") as f:
            f.write("ok")
        remove(probe)
    except StorageError as error:
        raise StorageError(f"cannot write the run directory {folder!r}: "
                           f"{str(error).split(': ', 1)[-1]}") from error


def _known_schemes() -> set[str]:
    from tensorflow.python.lib.io import file_io
    return set(file_io.get_registered_schemes()) - {"", "file"}
