"""Measured INS spectra: one reader for the files instruments and Mantid write.

:func:`load_measured` reads one spectrum (energy transfer, intensity and,
where the file has them, standard errors) into a :class:`MeasuredSpectrum`
with energies in meV, sorted ascending. Formats, told apart by content:

* text with 2 or 3 columns (energy, intensity[, error]) separated by
  whitespace, commas or semicolons, ``#`` comment lines, optionally one
  header row of column names (CSV);
* Mantid ``SaveAscii`` (version 2) output: a ``# X , Y , E`` header (``, DX``
  with ``WriteXError``), a line holding the spectrum number, then
  comma-separated rows ``x,y,e[,dx]``; histogram workspaces are written at bin
  centres; the X unit is not recorded, so it must be passed;
* Mantid ``SaveNexusProcessed`` (HDF5): ``/mantid_workspace_1/workspace/``
  ``axis1`` (bin edges or points, attribute ``units`` the Mantid unit ID),
  ``values`` and ``errors`` (shape ``(n_spectra, n_bins)``); histogram bins
  become their centres, and a histogram that is not a distribution (counts
  per bin) is divided by the bin widths in meV.

The energy unit (meV, cm⁻¹ or THz) comes from the ``units`` argument or,
failing that, from the file (a header naming it, the NeXus ``units``
attribute); a file that says nothing is refused. The energy-gain side (E < 0)
is kept. Intensities keep the file's unit: a comparison fits a scale factor.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from mdvib.errors import SettingsError
from mdvib.units import THZ_TO_INV_CM, THZ_TO_MEV

#: Energy units a measured file may be in → meV per unit (1 meV = 8.065544 cm⁻¹, 1 THz = 4.135668 meV; CODATA 2018).
ENERGY_UNITS_TO_MEV: dict[str, float] = {
    "meV": 1.0,
    "cm-1": THZ_TO_MEV / THZ_TO_INV_CM,
    "THz": THZ_TO_MEV,
    "GHz": THZ_TO_MEV * 1e-3,
}

#: Spellings accepted for ``units`` (lower case, spaces removed) → unit name.
UNIT_ALIASES: dict[str, str] = {
    "mev": "meV",
    "cm-1": "cm-1", "cm^-1": "cm-1", "cm**-1": "cm-1", "1/cm": "cm-1", "cm⁻¹": "cm-1", "invcm": "cm-1",
    "inv_cm": "cm-1", "wavenumber": "cm-1", "wavenumbers": "cm-1",
    "thz": "THz",
    "ghz": "GHz",
}  # fmt: skip

#: Mantid unit IDs of ``axis1`` in processed NeXus files → unit name (Mantid's DeltaE_inFrequency is in GHz).
MANTID_UNIT_IDS: dict[str, str] = {
    "DeltaE": "meV",
    "Energy": "meV",
    "DeltaE_inWavenumber": "cm-1",
    "Energy_inWavenumber": "cm-1",
    "DeltaE_inFrequency": "GHz",
}

#: How a header names an energy unit; the first match in a line counts (the energy is the first column).
_UNIT_PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("cm-1", re.compile(r"cm\s*(\^|\*\*)?\s*(-\s*1|⁻¹|\{-1\})|1\s*/\s*cm|wave\s*numbers?|inv(erse)?[_ ]?cm",
                        re.IGNORECASE)),
    ("meV", re.compile(r"(?<![a-z])mev(?![a-z])", re.IGNORECASE)),
    ("THz", re.compile(r"(?<![a-z])thz(?![a-z])", re.IGNORECASE)),
)

#: Mantid SaveAscii column header: ``# X , Y , E`` with optional ``, DX``.
_MANTID_HEADER = re.compile(r"^\s*X\s*[,;:\t ]\s*Y\s*[,;:\t ]\s*E(\s*[,;:\t ]\s*DX)?\s*$")
_SEPARATORS = re.compile(r"[,;\s]+")
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


@dataclasses.dataclass(frozen=True)
class MeasuredSpectrum:
    """One measured spectrum on its own energy points.

    Attributes
    ----------
    energies_mev : numpy.ndarray
        Energy transfer, meV, shape ``(n,)``, strictly ascending (E < 0: energy gain).
    intensity : numpy.ndarray
        Intensity in the file's unit, shape ``(n,)``.
    errors : numpy.ndarray or None
        Standard errors of ``intensity``, same unit, shape ``(n,)``, ≥ 0; ``None``
        when the file has none (comparisons are then unweighted).
    path : str
        File it was read from (``""`` when built in memory).
    source_units : str
        Energy unit of the file (``meV``, ``cm-1``, ``THz``, ``GHz``).
    label : str
        Name for tables and legends.
    format : str
        ``text``, ``mantid-ascii`` or ``mantid-nexus``.
    """

    energies_mev: np.ndarray
    intensity: np.ndarray
    errors: np.ndarray | None
    path: str
    source_units: str
    label: str
    format: str = "text"

    def __post_init__(self):
        where = self.path or self.label or "measured spectrum"
        energies = np.asarray(self.energies_mev, dtype=float)
        intensity = np.asarray(self.intensity, dtype=float)
        if energies.ndim != 1 or intensity.shape != energies.shape:
            raise SettingsError(f"{where}: energies {energies.shape} and intensity {intensity.shape} must be 1-D "
                                "arrays of one length")
        if energies.size < 2:
            raise SettingsError(f"{where}: {energies.size} data point(s); a spectrum needs at least 2")
        if not (np.all(np.isfinite(energies)) and np.all(np.isfinite(intensity))):
            raise SettingsError(f"{where}: energies and intensities must be finite numbers")
        if np.any(np.diff(energies) <= 0):
            raise SettingsError(f"{where}: energies must be strictly ascending (sort them, remove duplicates)")
        object.__setattr__(self, "energies_mev", energies)
        object.__setattr__(self, "intensity", intensity)
        if self.errors is not None:
            errors = np.asarray(self.errors, dtype=float)
            if errors.shape != energies.shape or not np.all(np.isfinite(errors)) or np.any(errors < 0):
                raise SettingsError(f"{where}: errors must be finite, non-negative and one per energy")
            object.__setattr__(self, "errors", errors)

    @property
    def weighted(self) -> bool:
        """Whether the spectrum carries standard errors."""
        return self.errors is not None


def normalise_unit(units: str, path: str | Path = "") -> str:
    """The unit name (``meV``, ``cm-1``, ``THz``, ``GHz``) of a spelling such as ``"1/cm"`` or ``"wavenumber"``.

    Raises
    ------
    SettingsError
        For a unit mdvib does not know, listing the accepted spellings.
    """
    key = "".join(str(units).split()).lower()
    if key not in UNIT_ALIASES:
        prefix = f"{path}: " if path else ""
        raise SettingsError(f"{prefix}unknown energy unit {units!r}; pass units= (CLI --units) as one of "
                            f"{', '.join(sorted(set(UNIT_ALIASES)))}")
    return UNIT_ALIASES[key]


def load_measured(path: str | Path, units: str | None = None, label: str | None = None) -> MeasuredSpectrum:
    """Read a measured spectrum (text, CSV, Mantid SaveAscii or SaveNexusProcessed).

    Parameters
    ----------
    path : path
        The file.
    units : str, optional
        Energy unit of the file (``meV``, ``cm-1`` / ``1/cm`` / ``wavenumber``,
        ``THz``); overrides what the file says. Needed when the file does not
        name its unit (e.g. Mantid SaveAscii).
    label : str, optional
        Name for tables and legends; default the file name without extension.

    Returns
    -------
    MeasuredSpectrum
        Energies in meV, ascending; intensity and errors as in the file.

    Raises
    ------
    SettingsError
        For a missing or empty file, an unknown or missing energy unit, a wrong
        number of columns, non-numeric or non-finite values, negative errors or
        duplicated energies, naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise SettingsError(f"{path}: no such file")
    explicit = normalise_unit(units, path) if units is not None else None
    with open(path, "rb") as fh:
        signature = fh.read(len(_HDF5_SIGNATURE))
    if signature == _HDF5_SIGNATURE:
        energies, intensity, errors, file_units, histogram, fmt = _read_nexus(path)
        rows = None
    else:
        energies, intensity, errors, file_units, rows, fmt = _read_text(path, explicit)
        histogram = None
    unit = explicit or file_units
    if unit is None:
        hint = ("Mantid SaveAscii files do not record the X unit" if fmt == "mantid-ascii"
                else "its header names no energy unit (meV, cm-1, THz)")
        raise SettingsError(f"{path}: cannot tell the energy unit: {hint}; pass units='meV' (or 'cm-1', 'THz'; "
                            "CLI: --units meV)")
    _check_rows(path, energies, errors, rows)
    order = np.argsort(energies, kind="stable")
    factor = ENERGY_UNITS_TO_MEV[unit]
    energies_mev = energies[order] * factor
    intensity = intensity[order]
    errors = errors[order] if errors is not None else None
    if histogram is not None and not histogram["distribution"]:
        widths = np.abs(np.diff(histogram["edges"]))[order] * factor
        intensity = intensity / widths
        errors = errors / widths if errors is not None else None
    return MeasuredSpectrum(energies_mev=energies_mev, intensity=intensity, errors=errors, path=str(path),
                            source_units=unit, label=label if label is not None else path.stem, format=fmt)


def _check_rows(path: Path, energies: np.ndarray, errors: np.ndarray | None, rows: np.ndarray | None) -> None:
    """Refuse negative errors and duplicated energies, naming the line (text) or bin (NeXus)."""

    def where(i: int) -> str:
        return f"line {rows[i]}" if rows is not None else f"bin {i}"

    if errors is not None:
        negative = np.flatnonzero(errors < 0)
        if negative.size:
            i = negative[0]
            raise SettingsError(f"{path}, {where(i)}: negative error {errors[i]:g} ({negative.size} in all); "
                                "errors are standard deviations and must be ≥ 0")
    order = np.argsort(energies, kind="stable")
    same = np.flatnonzero(np.diff(energies[order]) == 0)
    if same.size:
        a, b = sorted((order[same[0]], order[same[0] + 1]))
        raise SettingsError(f"{path}: energy {energies[a]:g} appears twice ({where(a)} and {where(b)}; "
                            f"{same.size} duplicate(s) in all); merge or remove the repeated points")


def _unit_in(text: str) -> str | None:
    """The energy unit a header line names first, or ``None``."""
    found = [(m.start(), unit) for unit, pattern in _UNIT_PATTERNS if (m := pattern.search(text))]
    return min(found)[1] if found else None


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _read_text(path: Path, explicit: str | None):
    """Columns of a text file → (energies, intensity, errors or None, unit or None, line numbers, format).

    The unit is ``explicit`` when given, else the one the header row or the comments name.
    """
    try:
        text = path.read_text(encoding="utf-8-sig", errors="strict")
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{path}: not a text file ({exc.reason} at byte {exc.start}); measured spectra are "
                            "read from text/CSV or Mantid NeXus (HDF5) files") from exc
    comment_units: list[tuple[int, str]] = []
    header_unit = None
    mantid = False
    spectrum_lines: list[int] = []
    rows: list[list[float]] = []
    numbers: list[int] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            body = line.lstrip("#")
            if _MANTID_HEADER.match(body):
                mantid = True
            elif (unit := _unit_in(body)) is not None:
                comment_units.append((number, unit))
            continue
        tokens = [t for t in _SEPARATORS.split(line) if t]
        if not rows and not spectrum_lines and header_unit is None and not all(map(_is_number, tokens)):
            if _MANTID_HEADER.match(line):
                mantid = True
            header_unit = _unit_in(line) or ""
            continue
        if len(tokens) == 1 and re.fullmatch(r"\d+", tokens[0]) and (mantid or not (rows or spectrum_lines)):
            spectrum_lines.append(number)     # Mantid SaveAscii writes the spectrum number before its rows
            continue
        values = []
        for token in tokens:
            try:
                values.append(float(token))
            except ValueError:
                raise SettingsError(f"{path}, line {number}: {token!r} is not a number (line: {line[:60]!r})") from None
        if not all(np.isfinite(values)):
            raise SettingsError(f"{path}, line {number}: non-finite value in {line[:60]!r}; remove the row "
                                "(masked or empty bins) and read again")
        rows.append(values)
        numbers.append(number)
    if not rows:
        raise SettingsError(f"{path}: no data rows (the file is empty or holds only comments); expected columns "
                            "energy, intensity[, error]")
    mantid = mantid or bool(spectrum_lines)
    if mantid and len(spectrum_lines) > 1:
        raise SettingsError(f"{path}: a Mantid SaveAscii file with {len(spectrum_lines)} spectra (spectrum-number "
                            f"lines {', '.join(map(str, spectrum_lines[:5]))}); save one spectrum (SumSpectra, or "
                            "WorkspaceIndexMin = WorkspaceIndexMax) or split the file")
    width = len(rows[0])
    for values, number in zip(rows, numbers):
        if len(values) != width:
            raise SettingsError(f"{path}, line {number}: {len(values)} columns, but line {numbers[0]} has {width}; "
                                "every row needs the same columns")
    allowed = (2, 3, 4) if mantid else (2, 3)
    if width not in allowed:
        extra = " (energy, intensity, error, Mantid's DX)" if mantid else ""
        raise SettingsError(f"{path}, line {numbers[0]}: {width} column(s); a measured spectrum has 2 (energy, "
                            f"intensity) or 3 (energy, intensity, error) columns{extra}")
    data = np.array(rows)
    unit = explicit or header_unit or _comment_unit(path, comment_units)
    errors = data[:, 2] if width >= 3 else None
    return data[:, 0], data[:, 1], errors, unit, np.array(numbers), "mantid-ascii" if mantid else "text"


def _comment_unit(path: Path, found: list[tuple[int, str]]) -> str | None:
    units = sorted({unit for _, unit in found})
    if len(units) > 1:
        lines = ", ".join(f"line {n}: {u}" for n, u in found[:6])
        raise SettingsError(f"{path}: the comments name several energy units ({lines}); pass units= (CLI --units) "
                            "to say which one the energy column is in")
    return units[0] if units else None


def _read_nexus(path: Path):
    """A Mantid processed NeXus file → (energies, intensity, errors, unit or None, histogram info or None, format)."""
    import h5py

    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise SettingsError(f"{path}: not a readable HDF5 file: {exc}") from exc
    with h5:
        group_name = "mantid_workspace_1/workspace"
        if group_name not in h5:
            raise SettingsError(f"{path}: no {group_name} group (top level: {', '.join(list(h5)[:8]) or 'empty'}); "
                                "HDF5 spectra are read from Mantid SaveNexusProcessed files")
        group = h5[group_name]
        missing = [name for name in ("axis1", "values") if name not in group]
        if missing:
            raise SettingsError(f"{path}: {group_name} lacks {', '.join(missing)}; not a SaveNexusProcessed "
                                "workspace")
        axis = np.asarray(group["axis1"][()], dtype=float)
        values = np.atleast_2d(np.asarray(group["values"][()], dtype=float))
        errors = np.atleast_2d(np.asarray(group["errors"][()], dtype=float)) if "errors" in group else None
        unit_id = _attr(group["axis1"], "units")
        distribution = any(_attr(group[name], "distribution") in ("1", "True", "true")
                           for name in ("values", "axis1"))
    if values.ndim != 2 or values.shape[0] != 1:
        raise SettingsError(f"{path}: the workspace holds {values.shape[0]} spectra of shape {values.shape}; save "
                            "one spectrum (SumSpectra or ExtractSingleSpectrum in Mantid)")
    axis = axis[0] if axis.ndim == 2 else axis
    n_bins = values.shape[1]
    if axis.size == n_bins + 1:
        histogram = {"edges": axis, "distribution": distribution}
        energies = 0.5 * (axis[1:] + axis[:-1])
    elif axis.size == n_bins:
        histogram, energies = None, axis
    else:
        raise SettingsError(f"{path}: axis1 has {axis.size} values for {n_bins} bins (expected {n_bins} points "
                            f"or {n_bins + 1} edges)")
    for name, array in (("axis1", energies), ("values", values), ("errors", errors)):
        if array is not None and not np.all(np.isfinite(array)):
            bad = int(np.flatnonzero(~np.isfinite(np.ravel(array)))[0])
            raise SettingsError(f"{path}: {name} has a non-finite value at bin {bad}; mask or crop those bins in "
                                "Mantid (CropWorkspace, ReplaceSpecialValues) and save again")
    unit = None
    if unit_id:
        if unit_id not in MANTID_UNIT_IDS:
            raise SettingsError(f"{path}: axis1 is in Mantid unit {unit_id!r}, not an energy transfer; convert it "
                                f"(ConvertUnits to DeltaE or DeltaE_inWavenumber) or pass units= to override")
        unit = MANTID_UNIT_IDS[unit_id]
    err = errors[0] if errors is not None else None
    return energies, values[0], err, unit, histogram, "mantid-nexus"


def _attr(obj, name: str) -> str:
    value = obj.attrs.get(name)
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        value = value.ravel()[0] if value.size else ""
        return value.decode() if isinstance(value, bytes) else str(value)
    return str(value)
