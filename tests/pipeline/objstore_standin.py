"""A stand-in object store for tests: Beam ``FileSystem`` plugin for ``objtest://`` URLs.

A test double for GCS/S3 (which cannot be reached here), named as such: it stores objects in
a local directory but behaves like an object store towards Beam: URLs with a scheme, no
directories (``has_dirs`` is False), recursive prefix listing. Registering it is importing
this module; point ``BASE`` at a temp dir first.
"""

from __future__ import annotations

import os

from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.localfilesystem import LocalFileSystem

SCHEME = "objtest"
PREFIX = f"{SCHEME}://"
BASE = {"dir": "/tmp/objtest-standin"}


def _local(url: str) -> str:
    if not url.startswith(PREFIX):
        raise ValueError(f"not an {PREFIX} URL: {url}")
    return os.path.join(BASE["dir"], url[len(PREFIX):])


def _url(path: str) -> str:
    return PREFIX + os.path.relpath(path, BASE["dir"])


class ObjectStoreStandIn(LocalFileSystem):
    """Stand-in for an object store (see module docstring).

    File operations go to a separate ``LocalFileSystem`` with translated paths (its methods
    call each other through ``self``, which must not come back here with local paths).
    """

    def __init__(self, pipeline_options=None):
        super().__init__(pipeline_options)
        self._disk = LocalFileSystem(pipeline_options)

    @classmethod
    def scheme(cls):
        return SCHEME

    def join(self, basepath, *paths):
        out = basepath.rstrip("/")
        for p in paths:
            out += "/" + p.strip("/")
        return out

    def split(self, path):
        head, _, tail = path.rstrip("/").rpartition("/")
        return head, tail

    def mkdirs(self, path):
        os.makedirs(_local(path), exist_ok=True)

    def has_dirs(self):
        return False

    def _list(self, dir_or_prefix):
        root = _local(dir_or_prefix)
        base, prefix = (root, "") if os.path.isdir(root) else os.path.split(root)
        if not os.path.isdir(base):
            return
        for dirpath, _, files in os.walk(base):
            for name in files:
                full = os.path.join(dirpath, name)
                if full.startswith(os.path.join(base, prefix)):
                    yield FileMetadata(_url(full), os.path.getsize(full), os.path.getmtime(full))

    def create(self, path, *args, **kwargs):
        os.makedirs(os.path.dirname(_local(path)), exist_ok=True)
        return self._disk.create(_local(path), *args, **kwargs)

    def open(self, path, *args, **kwargs):
        return self._disk.open(_local(path), *args, **kwargs)

    def copy(self, sources, destinations):
        for d in destinations:
            os.makedirs(os.path.dirname(_local(d)), exist_ok=True)
        return self._disk.copy([_local(s) for s in sources], [_local(d) for d in destinations])

    def rename(self, sources, destinations):
        for d in destinations:
            os.makedirs(os.path.dirname(_local(d)), exist_ok=True)
        return self._disk.rename([_local(s) for s in sources], [_local(d) for d in destinations])

    def exists(self, path):
        return os.path.exists(_local(path))

    def size(self, path):
        return self._disk.size(_local(path))

    def last_updated(self, path):
        return self._disk.last_updated(_local(path))

    def checksum(self, path):
        return self._disk.checksum(_local(path))

    def metadata(self, path):
        m = self._disk.metadata(_local(path))
        return FileMetadata(path, m.size_in_bytes, m.last_updated_in_seconds)

    def delete(self, paths):
        return self._disk.delete([_local(p) for p in paths])
