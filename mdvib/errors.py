"""Exception types raised by mdvib.

Every message names the file, and where it applies the frame and atom, plus
what to do about it. The CLI turns these into a one-line message and a
non-zero exit status; library code never calls ``sys.exit``.
"""

from __future__ import annotations


class MdvibError(Exception):
    """Base class of all errors mdvib raises on purpose."""


class TrajectoryFormatError(MdvibError):
    """A trajectory file is malformed, truncated or inconsistent.

    Parameters
    ----------
    path : str
        The file being read.
    message : str
        What is wrong and how to fix it.
    frame : int, optional
        0-based index of the offending frame.
    atom_id : int, optional
        Atom id (as in the file) of the offending atom.
    """

    def __init__(self, path, message: str, frame: int | None = None, atom_id: int | None = None):
        self.path = str(path)
        self.message = message
        self.frame = frame
        self.atom_id = atom_id
        where = [f"{self.path}"]
        if frame is not None:
            where.append(f"frame {frame}")
        if atom_id is not None:
            where.append(f"atom id {atom_id}")
        super().__init__(f"{', '.join(where)}: {message}")

    def __reduce__(self):
        """Pickle by the constructor arguments (errors raised in parallel workers reach the caller intact)."""
        return type(self), (self.path, self.message, self.frame, self.atom_id)


class MissingDataError(MdvibError):
    """A quantity an analysis needs (velocities, forces, time step) is not available."""


class UnitsError(MdvibError):
    """Data look like they were read with the wrong unit convention."""


class SettingsError(MdvibError, ValueError):
    """An analyser or reader option is invalid."""


class FitError(MdvibError):
    """A fit whose result would be meaningless: too few data for its parameters, or forces it does not describe."""
