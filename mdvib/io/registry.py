"""One table of trajectory formats (after ASE's ``io/formats.py``).

Each reader module registers its class with the file-name patterns it claims
and an optional content sniffer. :func:`open_reader` picks the reader from an
explicit ``format`` name, else from the file name, else by sniffing the first
bytes, and falls back to the ASE and MDAnalysis readers (in registration order;
they claim disjoint file names and magic bytes) for everything else.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mdvib.errors import SettingsError, TrajectoryFormatError
from mdvib.io._compression import open_decompressed
from mdvib.io.base import TrajectoryReader


@dataclass(frozen=True)
class ReaderEntry:
    """A registered format.

    Attributes
    ----------
    name : str
        Format name used on the command line (``--format``).
    reader : type
        :class:`~mdvib.io.base.TrajectoryReader` subclass.
    patterns : tuple of str
        Case-insensitive ``fnmatch`` patterns of file names it claims.
    sniff : callable or None
        ``sniff(first_bytes) -> bool`` for files whose name says nothing.
    description : str
        One line for ``--help``.
    """

    name: str
    reader: type
    patterns: tuple[str, ...]
    sniff: Callable[[bytes], bool] | None
    description: str


READERS: dict[str, ReaderEntry] = {}
#: Names of fallback readers tried in this order when nothing else matches.
FALLBACKS: list[str] = []


def register_reader(
    name: str,
    patterns: tuple[str, ...] = (),
    sniff: Callable[[bytes], bool] | None = None,
    description: str = "",
    fallback: bool = False,
):
    """Class decorator adding a reader to :data:`READERS`."""

    def decorate(cls: type) -> type:
        cls.format_name = name
        READERS[name] = ReaderEntry(name, cls, tuple(p.lower() for p in patterns), sniff, description)
        if fallback:
            FALLBACKS.append(name)
        return cls

    return decorate


def _first_bytes(path: Path, n: int = 4096) -> bytes:
    """The first ``n`` bytes, decompressed for gzip, bzip2 and xz files; fewer for a short or truncated file."""
    try:
        with open_decompressed(path) as fh:
            return fh.read(n)
    except OSError as exc:
        raise TrajectoryFormatError(path, f"cannot read file: {exc}") from exc


def detect_format(path: str | Path) -> str:
    """Return the registry name of the reader for ``path``.

    Raises
    ------
    TrajectoryFormatError
        If the file does not exist or no reader claims it.
    """
    path = Path(path)
    if not path.exists():
        raise TrajectoryFormatError(path, "file not found")
    fname = path.name.lower()
    for entry in READERS.values():
        if entry.name not in FALLBACKS and any(fnmatch.fnmatch(fname, p) for p in entry.patterns):
            return entry.name
    head = _first_bytes(path)
    for entry in READERS.values():
        if entry.sniff is not None and entry.sniff(head):
            return entry.name
    for name in FALLBACKS:
        entry = READERS[name]
        if entry.sniff is None or entry.sniff(head) or any(fnmatch.fnmatch(fname, p) for p in entry.patterns):
            return name
    raise TrajectoryFormatError(
        path, f"cannot tell the file format; pass --format with one of {sorted(READERS)}"
    )


def open_reader(path: str | Path, format: str | None = None, **options) -> TrajectoryReader:
    """Open ``path`` with the reader for ``format`` (detected when ``None``).

    Parameters
    ----------
    path : str or Path
        Trajectory file.
    format : str, optional
        Registry name; see :data:`READERS`.
    **options
        Reader options: ``units`` (LAMMPS unit style), ``dt_fs`` (MD time step
        or frame spacing in fs), ``masses``/``species`` overrides.
    """
    import mdvib.io  # noqa: F401  (registers the built-in readers)

    name = format or detect_format(path)
    if name not in READERS:
        raise SettingsError(f"unknown trajectory format {name!r}; choose one of {sorted(READERS)}")
    return READERS[name].reader(path, **options)
