"""i-PI property files (``PREFIX.out``): columns, their units, values in mdvib's units.

i-PI writes the properties of an ``<properties filename='out'>`` output as
whitespace-separated columns after a commented header, one line per column::

    # column   1     --> step : The current simulation time step.
    # column   2     --> time{femtosecond} : The elapsed simulation time.
    # cols.  3-5     --> kstress{electronvolt/angstrom3} : ...

A property without a unit in braces is in atomic units. Values are converted
with i-PI's own unit tables (:mod:`ipi.utils.units`) for the families this
module knows (:data:`FAMILIES`): energies to eV, temperatures to K, times to
fs; other columns are returned in the file's unit. Written by hand because
i-PI ships no reader of its property files beyond the header parser of its
tools, which needs a whole i-PI simulation object.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mdvib.errors import SettingsError, TrajectoryFormatError

#: Unit family of the properties converted to mdvib units, and the target unit (i-PI's name).
FAMILIES = {
    "time": ("time", "femtosecond"),
    "temperature": ("temperature", "kelvin"),
    "conserved": ("energy", "electronvolt"),
    "potential": ("energy", "electronvolt"),
    "kinetic_md": ("energy", "electronvolt"),
    "kinetic_cv": ("energy", "electronvolt"),
    "kinetic_td": ("energy", "electronvolt"),
    "kinetic_tdsc": ("energy", "electronvolt"),
}
_HEADER = re.compile(r"^#\s*(?:column|cols\.)\s+(?P<first>\d+)(?:-(?P<last>\d+))?\s*-->\s*(?P<name>[^\s{:]+)"
                     r"(?:\{(?P<unit>[^}]*)\})?")


@dataclass(frozen=True)
class IpiProperties:
    """The columns of an i-PI property file.

    Attributes
    ----------
    path : Path
        The file.
    names : tuple of str
        Property name of each column group, in file order (``kinetic_cv``).
    units : dict
        File unit of each property (``None``: atomic units).
    columns : dict
        Column slice of each property in ``data``.
    data : ndarray, shape (n_lines, n_columns)
        Values as written (file units).
    """

    path: Path
    names: tuple[str, ...]
    units: dict[str, str | None]
    columns: dict[str, slice]
    data: np.ndarray

    def __contains__(self, name: str) -> bool:
        return name in self.columns

    def raw(self, name: str) -> np.ndarray:
        """Values of ``name`` in the file's unit, shape (n_lines,) or (n_lines, k) for a vector property."""
        if name not in self.columns:
            raise SettingsError(f"{self.path}: no property {name!r}; the file has {list(self.names)}")
        values = self.data[:, self.columns[name]]
        return values[:, 0] if values.shape[1] == 1 else values

    def values(self, name: str) -> np.ndarray:
        """Values of ``name`` in mdvib's units (eV, K, fs) where :data:`FAMILIES` knows it, else as written.

        Raises
        ------
        SettingsError
            If the property is absent, or i-PI (needed for the unit tables) is not installed.
        """
        values = self.raw(name)
        if name not in FAMILIES:
            return values
        try:
            from ipi.utils.units import unit_to_internal, unit_to_user
        except ImportError as exc:
            raise SettingsError("converting i-PI units needs i-PI: pip install 'mdvib[pimd]'") from exc
        family, target = FAMILIES[name]
        unit = self.units[name] or "atomic_unit"
        return unit_to_user(family, target, unit_to_internal(family, unit, values))

    @property
    def steps(self) -> np.ndarray:
        """Step of each line, int64 (the ``step`` column)."""
        return np.rint(self.raw("step")).astype(np.int64)


def read_properties(path: str | Path) -> IpiProperties:
    """Read an i-PI property file.

    Parameters
    ----------
    path : str or Path
        ``PREFIX.out`` written by i-PI.

    Raises
    ------
    TrajectoryFormatError
        If the file has no column header, a line with the wrong number of
        values (a cut last line is dropped) or a value that is not a number.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise TrajectoryFormatError(path, f"cannot read the i-PI property file: {exc}") from exc
    units, columns = {}, {}
    rows, width = [], 0
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        if line.startswith("#"):
            match = _HEADER.match(line)
            if match:
                first = int(match["first"]) - 1
                last = int(match["last"] or match["first"])
                units[match["name"]] = match["unit"]
                columns[match["name"]] = slice(first, last)
            continue
        if not line.strip():
            continue
        if not columns:
            raise TrajectoryFormatError(path, "no '# column N --> name' header before the data: not an i-PI "
                                        "property file")
        fields = line.split()
        width = width or max(c.stop for c in columns.values())  # the header ends before the first data line
        if len(fields) != width:
            if number == len(lines) and not text.endswith("\n"):
                break  # i-PI was stopped while writing the last line
            raise TrajectoryFormatError(path, f"line {number} has {len(fields)} values, the header names {width}")
        try:
            rows.append([float(v) for v in fields])
        except ValueError as exc:
            raise TrajectoryFormatError(path, f"line {number}: {exc}") from None
    if not columns:
        raise TrajectoryFormatError(path, "no '# column N --> name' header: not an i-PI property file")
    data = np.array(rows, dtype=np.float64).reshape(len(rows), width or max(c.stop for c in columns.values()))
    return IpiProperties(path, tuple(columns), units, columns, data)
