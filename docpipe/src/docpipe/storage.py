"""Where uploaded files live, behind a small interface (a filesystem is enough here)."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Protocol

__all__ = ["FileStorage", "Storage", "StorageError"]


class StorageError(RuntimeError):
    pass


class Storage(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def delete(self, key: str) -> bool: ...
    def exists(self, key: str) -> bool: ...
    def check(self) -> float:
        """Write, read and delete a probe; return the seconds it took. Raises StorageError."""
        ...


class FileStorage:
    """Files under one directory; keys are relative paths made of safe characters."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise StorageError(f"invalid storage key {key!r}")
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise StorageError(f"no stored file {key!r}") from None

    def delete(self, key: str) -> bool:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            return False
        return True

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def check(self) -> float:
        start = time.perf_counter()
        key = f".probe/{os.getpid()}"
        try:
            self.put(key, b"probe")
            if self.get(key) != b"probe":
                raise StorageError("storage probe read back different bytes")
            self.delete(key)
        except OSError as exc:
            raise StorageError(f"storage not writable: {exc.strerror}") from None
        return time.perf_counter() - start
