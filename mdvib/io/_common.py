"""Small helpers shared by the trajectory readers.

Species and mass resolution, frame-range checks, NaN checks and the time axis
of a trajectory (frame times and spacing from times, step numbers or a
user-given time step). Everything here works in mdvib's internal units
(Å, fs, amu).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import ase.data
import numpy as np

from mdvib.errors import SettingsError, TrajectoryFormatError
from mdvib.io._masses import masses_for_species
from mdvib.io.base import FrameChunk

#: Relative tolerance on frame-to-frame time differences for "evenly spaced".
SPACING_RTOL: float = 1e-6


def check_options(reader: str, options: Mapping, known: set[str]) -> None:
    """Raise :class:`SettingsError` for reader options not in ``known``."""
    unknown = set(options) - known
    if unknown:
        raise SettingsError(f"{reader} reader: unknown option(s) {sorted(unknown)}; known: {sorted(known)}")


def element_symbol(label: str) -> str | None:
    """Return the chemical symbol ``label`` spells, or ``None``.

    Accepts any capitalisation (``SI``, ``si`` → ``Si``); the dummy symbol
    ``X`` is not an element.
    """
    symbol = label.strip().capitalize()
    if symbol in ase.data.atomic_numbers and symbol != "X":
        return symbol
    return None


def resolve_species(
    path,
    labels: Sequence[str],
    type_map: Mapping | None = None,
    species: Sequence[str] | None = None,
    atom_ids: Sequence[int] | None = None,
) -> tuple[str, ...]:
    """Chemical symbol of every atom.

    Parameters
    ----------
    path : str or Path
        File being read (for messages).
    labels : sequence of str, length n_atoms
        Per-atom labels found in the file (element names, type names or
        type numbers as strings).
    type_map : mapping, optional
        ``{label: symbol}``; keys are compared as strings, so ``{1: "Si"}``
        and ``{"1": "Si"}`` both map type ``1``.
    species : sequence of str, optional
        Explicit symbol of every atom; overrides the file.
    atom_ids : sequence of int, optional
        Atom ids in ``labels`` order, to name an atom (default: its index).

    Returns
    -------
    tuple of str, length n_atoms

    Raises
    ------
    SettingsError
        If ``species`` has the wrong length.
    TrajectoryFormatError
        If a label is not an element and ``type_map`` does not map it.
    """
    n_atoms = len(labels)
    if species is not None:
        if len(species) != n_atoms:
            raise SettingsError(
                f"{path}: species= lists {len(species)} symbols but the file has {n_atoms} atoms"
            )
        labels = list(species)
        type_map = None
    mapping = {str(k): str(v) for k, v in (type_map or {}).items()}
    cache: dict[str, str] = {}
    out = []
    for index, label in enumerate(labels):
        label = str(label)
        if label not in cache:
            symbol = element_symbol(mapping.get(label, label))
            if symbol is None:
                raise TrajectoryFormatError(
                    path,
                    f"atom label {label!r} is not a chemical element; name the element of each label with "
                    f"--types {label}=Si,... (type_map={{{label!r}: 'Si', ...}}) or of every atom with --species",
                    atom_id=index if atom_ids is None else int(atom_ids[index]),
                )
            cache[label] = symbol
        out.append(cache[label])
    return tuple(out)


#: Relative difference between a file's mass and the standard weight of the element the user named
#: above which the replacement is reported (isotopes, coarse-grained sites).
MASS_RTOL: float = 0.01

#: Option names for messages: the command line's and the reader keyword's.
FIX_SPECIES = "--types/--species (type_map=/species=)"


def resolve_masses(
    path,
    species: Sequence[str],
    masses: Mapping[str, float] | None = None,
    file_masses: np.ndarray | None = None,
    *,
    named_by_user: bool = False,
    atom_ids: Sequence[int] | None = None,
) -> np.ndarray:
    """Atomic masses in amu, shape (n_atoms,).

    Priority: the user's ``masses`` ``{symbol: amu}`` for the symbols it
    names; then masses the file really stores, unless the user named the
    elements (``named_by_user``); then standard atomic weights
    (:data:`ase.data.atomic_masses`).

    Parameters
    ----------
    path : str or Path
        File being read (for messages).
    species : sequence of str, length n_atoms
        Chemical symbol of each atom.
    masses : mapping, optional
        ``{symbol: amu}`` from the user (command line ``--masses``).
    file_masses : ndarray, shape (n_atoms,), optional
        Masses stored in the file, amu; ``None`` when the file has none (a
        reader must not pass masses another code made up).
    named_by_user : bool
        Whether the species come from the user (``type_map``/``species``,
        command line ``--types``/``--species``): then the standard weights of
        those elements replace the file's masses, with a warning where they
        differ by more than :data:`MASS_RTOL`.
    atom_ids : sequence of int, optional
        Atom ids in ``species`` order, to name an atom (default: its index).

    Raises
    ------
    SettingsError
        If a mass is not positive or a symbol has no standard weight.
    TrajectoryFormatError
        If a file mass is not positive, or exactly 1.0 amu on an atom other
        than hydrogen: the placeholder codes give atoms of files without
        masses (MDAnalysis for LAMMPS dumps without a mass column), not a mass.
    """
    masses = dict(masses or {})
    for symbol, mass in masses.items():
        if not float(mass) > 0:
            raise SettingsError(f"{path}: mass of {symbol} must be positive, got {mass}")
    try:
        out = masses_for_species(species, masses)
    except SettingsError as exc:
        raise SettingsError(f"{path}: {exc}") from None
    if file_masses is None:
        return out
    stored = np.asarray(file_masses, dtype=np.float64).reshape(len(species))
    from_file = np.array([s not in masses for s in species], dtype=bool)
    if named_by_user:
        _warn_replaced_masses(path, species, stored, out, from_file)
        return out
    _check_file_masses(path, species, stored, from_file, atom_ids)
    out[from_file] = stored[from_file]
    return out


def _check_file_masses(path, species: Sequence[str], stored: np.ndarray, used: np.ndarray,
                       atom_ids: Sequence[int] | None) -> None:
    """Raise for the first used file mass that is not positive, or 1.0 amu on a non-hydrogen atom."""
    placeholder = np.array([s != "H" for s in species], dtype=bool) & (stored == 1.0)
    bad = np.flatnonzero(used & (~(stored > 0) | placeholder))
    if not bad.size:
        return
    k = int(bad[0])
    symbol, atom = species[k], k if atom_ids is None else int(atom_ids[k])
    if stored[k] == 1.0:
        what = (f"atom is {symbol} but the file gives it 1.0 amu, the placeholder codes use for a missing mass "
                f"(MDAnalysis for files without masses), not the mass of {symbol}")
    else:
        what = f"atom {symbol} has mass {stored[k]} amu in the file"
    raise TrajectoryFormatError(
        path,
        f"{what}; name the elements with {FIX_SPECIES} to use standard masses, or give the mass with "
        f"--masses {symbol}=AMU (masses={{'{symbol}': ...}})",
        atom_id=atom,
    )


def _warn_replaced_masses(path, species: Sequence[str], stored: np.ndarray, standard: np.ndarray,
                          replaced: np.ndarray) -> None:
    """Warn where the user's elements replace file masses that differ from their standard weights."""
    placeholder = np.array([s != "H" for s in species], dtype=bool) & (stored == 1.0)  # see _check_file_masses
    differ = replaced & ~placeholder & (np.abs(stored - standard) > MASS_RTOL * standard)
    if not differ.any():
        return
    pairs = {species[k]: float(stored[k]) for k in np.flatnonzero(differ)}
    listed = ", ".join(f"{s} {m:g} amu" for s, m in pairs.items())
    keep = ",".join(f"{s}={m:g}" for s, m in pairs.items())
    warnings.warn(
        f"{path}: the elements given by {FIX_SPECIES} get standard masses, replacing the file's ({listed}); "
        f"pass --masses {keep} (masses=) to keep the file's",
        stacklevel=3,
    )


def check_finite(
    path, name: str, values: np.ndarray, first_frame: int, atom_ids: np.ndarray | None = None
) -> None:
    """Raise if ``values`` holds NaN or infinity.

    Parameters
    ----------
    path : str or Path
        File being read.
    name : str
        Quantity name for the message (``positions``, ``velocities``...).
    values : ndarray, shape (n_frames, ...)
        Per-frame data; axis 1 is the atom axis when ``atom_ids`` is given.
    first_frame : int
        File index of ``values[0]``.
    atom_ids : ndarray, optional
        Atom ids of axis 1, to name the offending atom.

    Raises
    ------
    TrajectoryFormatError
        Naming the first frame (and atom) with a non-finite value.
    """
    finite = np.isfinite(values)
    if finite.all():
        return
    where = np.argwhere(~finite)[0]
    atom = None if atom_ids is None else int(atom_ids[where[1]])
    raise TrajectoryFormatError(
        path,
        f"{name} contain a non-finite value ({values[tuple(where)]}); the simulation probably "
        "blew up: cut the trajectory before this frame",
        frame=first_frame + int(where[0]),
        atom_id=atom,
    )


#: Per-atom and per-frame quantities of a chunk that must be finite, in the order they are checked.
CHECKED_QUANTITIES: tuple[str, ...] = ("positions", "velocities", "forces", "dipoles")


def check_chunk_finite(path, chunk: FrameChunk, atom_ids: np.ndarray, paths: Mapping | None = None) -> None:
    """Raise for the first NaN or infinity in a chunk's positions, velocities, forces or dipoles.

    The one NaN check of the readers that build chunks in Python (the LAMMPS
    dump kernel checks while it parses).

    Parameters
    ----------
    path : str or Path
        File being read.
    chunk : FrameChunk
        Frames in internal units; ``chunk.first_frame`` is the file index of
        its first frame.
    atom_ids : ndarray, shape (n_atoms,)
        Atom ids in chunk order, to name the offending atom.
    paths : mapping, optional
        ``{quantity: file}`` for quantities read from another file (i-PI
        companion files), e.g. ``{"forces": "sim.for_0.xyz"}``.

    Raises
    ------
    TrajectoryFormatError
        Naming the file, the frame and (for per-atom data) the atom id.
    """
    for name in CHECKED_QUANTITIES:
        values = getattr(chunk, name)
        if values is not None:
            source = path if paths is None else paths.get(name, path)
            check_finite(source, name, values, chunk.first_frame, atom_ids if values.ndim == 3 else None)


@dataclass(frozen=True)
class TimeAxis:
    """Frame times and spacing of a trajectory (see :func:`time_axis`).

    Attributes
    ----------
    times : ndarray, shape (n_frames,) or None
        Time of each frame in fs.
    spacing_fs : float or None
        Time between consecutive frames in fs; ``None`` when unknown, uneven
        or the file has one frame.
    uneven_frame : int or None
        First frame whose distance from the frame before differs from the
        distance between frames 0 and 1; ``None`` when evenly spaced.
    """

    times: np.ndarray | None
    spacing_fs: float | None
    uneven_frame: int | None = None

    @property
    def uniform(self) -> bool:
        """Whether the frames are evenly spaced (or their spacing is unknown)."""
        return self.uneven_frame is None


def time_axis(
    path,
    n_frames: int,
    times_fs: np.ndarray | None = None,
    steps: np.ndarray | None = None,
    dt_fs: float | None = None,
) -> TimeAxis:
    """Frame times and spacing of a trajectory.

    Rules, in order: recorded times (``times_fs``) win; else step numbers
    times the MD time step ``dt_fs``; else ``dt_fs`` is the time between
    frames; else the time axis is unknown.

    Parameters
    ----------
    path : str or Path
        File being read (for messages).
    n_frames : int
        Number of frames.
    times_fs : ndarray, shape (n_frames,), optional
        Recorded time of each frame, fs.
    steps : ndarray, shape (n_frames,), optional
        Recorded MD step of each frame.
    dt_fs : float, optional
        User time step, fs: the MD time step when ``steps`` are known,
        otherwise the time between frames.

    Returns
    -------
    TimeAxis
        Times, spacing and, for unevenly spaced frames (a warning is
        issued), the first frame where the spacing changes.

    Raises
    ------
    SettingsError
        If ``dt_fs`` is not positive.
    TrajectoryFormatError
        If recorded times or steps do not increase, naming the frame.
    """
    if dt_fs is not None and not float(dt_fs) > 0:
        raise SettingsError(f"dt_fs must be positive, got {dt_fs}")
    if times_fs is not None:
        times = np.asarray(times_fs, dtype=np.float64)
        check_increasing(path, times, "time")
    elif steps is not None:
        check_increasing(path, np.asarray(steps), "step")
        times = None if dt_fs is None else np.asarray(steps, dtype=np.float64) * float(dt_fs)
        if times is None:
            return TimeAxis(None, None, uneven_frame(path, np.asarray(steps, dtype=np.float64), "step"))
    elif dt_fs is not None:
        return TimeAxis(np.arange(n_frames, dtype=np.float64) * float(dt_fs), float(dt_fs))
    else:
        return TimeAxis(None, None)
    if n_frames < 2:
        return TimeAxis(times, None)
    uneven = uneven_frame(path, times, "time")
    return TimeAxis(times, float(times[1] - times[0]) if uneven is None else None, uneven)


def check_increasing(path, values: np.ndarray, what: str) -> None:
    """Raise naming the first frame whose ``what`` (step, time) does not increase."""
    bad = np.flatnonzero(np.diff(values) <= 0)
    if bad.size:
        k = int(bad[0]) + 1
        raise TrajectoryFormatError(
            path,
            f"{what} does not increase ({values[k - 1]} then {values[k]}); the file probably "
            "concatenates several runs: split it or restart the numbering",
            frame=k,
        )


def uneven_frame(path, values: np.ndarray, what: str, warn: bool = True) -> int | None:
    """First frame whose ``what`` (time, step) distance from the frame before differs from frame 1's.

    Distances agree within :data:`SPACING_RTOL` (relative). Returns ``None``
    when the frames are evenly spaced; otherwise warns (unless ``warn`` is
    false) that the frame spacing is left unknown.
    """
    if values.size < 3:
        return None
    diffs = np.diff(values)
    off = np.flatnonzero(np.abs(diffs - diffs[0]) > SPACING_RTOL * abs(diffs[0]))
    if off.size == 0:
        return None
    k = int(off[0]) + 1
    if warn:
        warnings.warn(
            f"{path}: frames are not evenly spaced in {what} (frame {k} is {diffs[k - 1]:g} after frame "
            f"{k - 1}, frame 1 is {diffs[0]:g} after frame 0); frame spacing left unknown",
            stacklevel=3,
        )
    return k
