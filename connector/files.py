"""Where labels and other generated files live: a folder, addressed by relative paths."""

from __future__ import annotations

import os
from pathlib import Path


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def write(self, relative: str, data: bytes) -> str:
        path = self._resolve(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".part")
        temporary.write_bytes(data)
        os.replace(temporary, path)
        return relative

    def read(self, relative: str) -> bytes:
        return self._resolve(relative).read_bytes()

    def delete(self, relative: str) -> None:
        """Remove a file if it is there; nothing if it is not."""
        self._resolve(relative).unlink(missing_ok=True)

    def path(self, relative: str) -> Path:
        return self._resolve(relative)

    def _resolve(self, relative: str) -> Path:
        path = (self.root / relative).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"{relative!r} is outside the file store")
        return path
