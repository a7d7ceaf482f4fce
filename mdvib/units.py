"""Internal unit system of mdvib and every conversion into it.

Internal units (DESIGN.md; docs/physics.md, "Units"): length Å, time fs, mass amu, energy eV,
temperature K, charge e (dipoles e·Å). Frequencies are reported as linear THz;
angular frequencies appear only inside kernels.

This module is the one table of unit conversions: readers (:mod:`mdvib.io`)
and engine boundaries import their factors from here and keep none of their
own. Names say both units, ``<FROM>_TO_<TO>``: a value in the first unit times
the factor is the value in the second. Sections:

* physical constants in internal units;
* plain factors (length, time, velocity, force);
* LAMMPS unit styles (``metal``, ``real``);
* extended XYZ (GPUMD, ASE) velocity and time units;
* i-PI unit names (atomic units by default);
* MDAnalysis base units;
* H5MD unit strings (parsed symbol by symbol with SI prefixes);
* GPUMD table outputs.

Constants are CODATA 2018 (``scipy.constants``); ASE's own units
(``ase.units``, CODATA 2014 by default) are used only for quantities stored in
ASE units (``momenta``, ASE velocities and times), so that they convert back
exactly as ASE wrote them.
"""

from __future__ import annotations

import math
import re

import ase.units as _ase
import numpy as np
import scipy.constants as _sc

# ----------------------------------------------------------------- constants

#: Boltzmann constant in eV/K.
KB_EV_PER_K: float = _sc.k / _sc.e
#: Planck constant in eV/THz (energy of a 1 THz quantum, in eV).
H_EV_PER_THZ: float = _sc.h / _sc.e * 1e12
#: amu·Å²/fs² expressed in eV (kinetic energy m v² with v in Å/fs).
AMU_A2_PER_FS2_IN_EV: float = _sc.atomic_mass * 1e-20 / 1e-30 / _sc.e

#: 1 THz in meV (exact to the digits given in docs/physics.md, "Units": 4.135667696).
THZ_TO_MEV: float = H_EV_PER_THZ * 1e3
#: 1 THz in cm⁻¹ (33.35640952).
THZ_TO_INV_CM: float = 1e12 / (_sc.c * 100.0)

# ----------------------------------------------------------------- plain factors

#: Bohr radius in Å.
BOHR_TO_A: float = _sc.physical_constants["Bohr radius"][0] * 1e10
#: Atomic unit of time (ħ/E_h) in fs.
ATU_TO_FS: float = _sc.physical_constants["atomic unit of time"][0] * 1e15
#: Hartree in eV.
HARTREE_TO_EV: float = _sc.physical_constants["Hartree energy in eV"][0]
#: Metre in Å.
M_TO_A: float = 1e10
#: Picosecond in fs.
PS_TO_FS: float = 1e3

#: Å/ps in Å/fs (LAMMPS ``metal`` velocities, MDAnalysis velocities).
A_PER_PS_TO_A_PER_FS: float = 1e-3
#: Bohr per atomic time unit in Å/fs (i-PI atomic-unit velocities).
BOHR_PER_ATU_TO_A_PER_FS: float = BOHR_TO_A / ATU_TO_FS
#: m/s in Å/fs.
M_PER_S_TO_A_PER_FS: float = 1e-5
#: kcal/(mol·Å) in eV/Å (LAMMPS ``real`` forces).
KCAL_PER_MOL_A_TO_EV_PER_A: float = _sc.calorie * 1e3 / _sc.N_A / _sc.e
#: kJ/(mol·Å) in eV/Å (MDAnalysis forces).
KJ_PER_MOL_A_TO_EV_PER_A: float = 1e3 / _sc.N_A / _sc.e
#: Hartree/bohr in eV/Å (i-PI atomic-unit forces).
HARTREE_PER_BOHR_TO_EV_PER_A: float = HARTREE_TO_EV / BOHR_TO_A

#: ASE velocity unit (Å per ASE time unit) in Å/fs; also turns ASE momenta / amu into Å/fs.
ASE_VELOCITY_TO_A_PER_FS: float = _ase.fs
#: ASE time unit in fs.
ASE_TIME_TO_FS: float = 1.0 / _ase.fs

#: Velocity units by name → Å/fs.
VELOCITY_TO_A_PER_FS: dict[str, float] = {
    "A/fs": 1.0,
    "A/ps": A_PER_PS_TO_A_PER_FS,
    "bohr/atu": BOHR_PER_ATU_TO_A_PER_FS,
}

# ----------------------------------------------------------------- LAMMPS

#: LAMMPS unit styles mdvib reads: velocity unit, time unit → fs, force unit → eV/Å.
LAMMPS_UNIT_STYLES: dict[str, dict[str, str | float]] = {
    # metal: Å, ps, eV; timestep in ps
    "metal": {"velocity": "A/ps", "time_to_fs": PS_TO_FS, "force_to_eV_per_A": 1.0, "force": "eV/A", "time": "ps"},
    # real: Å, fs, kcal/mol; timestep in fs
    "real": {
        "velocity": "A/fs",
        "time_to_fs": 1.0,
        "force_to_eV_per_A": KCAL_PER_MOL_A_TO_EV_PER_A,
        "force": "kcal/mol/A",
        "time": "fs",
    },
}

#: The same styles as H5MD unit strings (``units=`` of the H5MD reader, for datasets without ``unit``).
LAMMPS_STYLE_UNIT_STRINGS: dict[str, dict[str, str]] = {
    "metal": {"length": "A", "time": "ps", "velocity": "A ps-1", "force": "eV A-1", "mass": "u"},
    "real": {"length": "A", "time": "fs", "velocity": "A fs-1", "force": "kcal mol-1 A-1", "mass": "u"},
}

# ----------------------------------------------------------------- extended XYZ (GPUMD, ASE)

#: Units accepted by the extxyz reader's ``velocity_unit`` → Å/fs (GPUMD writes Å/fs).
EXTXYZ_VELOCITY_UNITS: dict[str, float] = {**VELOCITY_TO_A_PER_FS, "ase": ASE_VELOCITY_TO_A_PER_FS}
#: Units accepted by the extxyz reader's ``time_unit`` (``Time=`` keys) → fs (GPUMD writes fs).
EXTXYZ_TIME_UNITS: dict[str, float] = {"fs": 1.0, "ps": PS_TO_FS, "ase": ASE_TIME_TO_FS}

# ----------------------------------------------------------------- i-PI

#: i-PI unit names (lower case, as i-PI writes them in braces) → internal units, per dimension.
IPI_UNITS: dict[str, dict[str, float]] = {
    "length": {"atomic_unit": BOHR_TO_A, "angstrom": 1.0, "ase": 1.0, "meter": M_TO_A},
    "velocity": {"atomic_unit": BOHR_PER_ATU_TO_A_PER_FS, "m/s": M_PER_S_TO_A_PER_FS, "ase": ASE_VELOCITY_TO_A_PER_FS},
    "force": {"atomic_unit": HARTREE_PER_BOHR_TO_EV_PER_A, "ev/ang": 1.0, "ase": 1.0},
}
#: SI prefixes i-PI accepts on ``meter`` (``nanometer`` ...).
IPI_SI_PREFIXES: dict[str, float] = {
    "nano": 1e-9, "pico": 1e-12, "femto": 1e-15, "micro": 1e-6, "milli": 1e-3, "centi": 1e-2,
}  # fmt: skip


def ipi_factor(dimension: str, unit: str) -> float:
    """Factor from an i-PI unit (``atomic_unit`` when empty) of ``dimension`` to internal units.

    Parameters
    ----------
    dimension : {"length", "velocity", "force"}
    unit : str
        Name as i-PI writes it in braces (``angstrom``, ``atomic_unit``, ``nanometer`` ...).

    Raises
    ------
    KeyError
        For a unit mdvib does not know.
    """
    table = IPI_UNITS[dimension]
    name = unit.strip().lower() or "atomic_unit"
    if name in table:
        return table[name]
    if dimension == "length":
        for prefix, scale in IPI_SI_PREFIXES.items():
            if name == prefix + "meter":
                return scale * table["meter"]
    raise KeyError(name)


# ----------------------------------------------------------------- MDAnalysis

#: MDAnalysis base units (Å, ps, Å/ps, kJ/(mol·Å)) → internal units.
MDANALYSIS_TO_INTERNAL: dict[str, float] = {
    "length": 1.0,
    "time": PS_TO_FS,
    "velocity": A_PER_PS_TO_A_PER_FS,
    "force": KJ_PER_MOL_A_TO_EV_PER_A,
}

# ----------------------------------------------------------------- H5MD unit strings

# Dimensions are exponents of (length, time, mass).
_LENGTH, _TIME, _MASS = (1, 0, 0), (0, 1, 0), (0, 0, 1)
_ENERGY = (2, -2, 1)
#: H5MD unit symbols (without prefix) → (value in SI, dimension as exponents of length, time, mass).
H5MD_SYMBOLS: dict[str, tuple[float, tuple[int, int, int]]] = {
    "m": (1.0, _LENGTH),
    "Angstrom": (1e-10, _LENGTH),
    "angstrom": (1e-10, _LENGTH),
    "A": (1e-10, _LENGTH),
    "Å": (1e-10, _LENGTH),
    "bohr": (_sc.physical_constants["Bohr radius"][0], _LENGTH),
    "s": (1.0, _TIME),
    "AKMA": (4.888821e-14, _TIME),
    "g": (1e-3, _MASS),
    "u": (_sc.atomic_mass, _MASS),
    "Da": (_sc.atomic_mass, _MASS),
    "amu": (_sc.atomic_mass, _MASS),
    "J": (1.0, _ENERGY),
    "eV": (_sc.e, _ENERGY),
    "cal": (_sc.calorie, _ENERGY),
    "N": (1.0, (1, -2, 1)),
    "Newton": (1.0, (1, -2, 1)),
    "mol": (_sc.N_A, (0, 0, 0)),
}
#: SI prefixes of H5MD unit symbols.
SI_PREFIXES: dict[str, float] = {
    "Y": 1e24, "Z": 1e21, "E": 1e18, "P": 1e15, "T": 1e12, "G": 1e9, "M": 1e6, "k": 1e3, "h": 1e2,
    "da": 1e1, "d": 1e-1, "c": 1e-2, "m": 1e-3, "u": 1e-6, "µ": 1e-6, "n": 1e-9, "p": 1e-12,
    "f": 1e-15, "a": 1e-18,
}  # fmt: skip
_TOKEN = re.compile(r"^(?P<symbol>[^\d^+\-]+)\^?(?P<power>[+-]?\d+)?$")

#: Quantity → (dimension, internal unit in SI, name of the internal unit).
INTERNAL_UNITS: dict[str, tuple[tuple[int, int, int], float, str]] = {
    "length": (_LENGTH, 1e-10, "A"),
    "time": (_TIME, 1e-15, "fs"),
    "velocity": ((1, -1, 0), 1e5, "A/fs"),
    "force": ((1, -2, 1), _sc.e / 1e-10, "eV/A"),
    "mass": (_MASS, _sc.atomic_mass, "amu"),
}


def parse_unit(unit: str) -> tuple[float, tuple[int, int, int]]:
    """Value in SI and dimension of an H5MD unit string.

    Parameters
    ----------
    unit : str
        Space-separated symbols with optional SI prefix and integer power
        (``nm ps-1``, ``kJ mol-1 nm-1``), optionally a leading number; ``/``,
        ``*`` and parentheses (``kJ/(mol*nm)``) are accepted too.

    Returns
    -------
    factor : float
        Value of one ``unit`` in SI.
    dimension : tuple of int
        Exponents of (length, time, mass).

    Raises
    ------
    ValueError
        For an unknown symbol.
    """
    factor, dims = 1.0, np.zeros(3, dtype=int)
    numerator, _, denominator = unit.replace("(", " ").replace(")", " ").partition("/")
    for part, sign in ((numerator, 1), (denominator, -1)):
        for token in part.replace("*", " ").split():
            try:
                factor *= float(token) ** sign
                continue
            except ValueError:
                pass
            match = _TOKEN.match(token)
            if match is None:
                raise ValueError(f"cannot parse unit {token!r} in {unit!r}")
            symbol, power = match["symbol"], sign * int(match["power"] or 1)
            value, dim = _symbol(symbol, unit)
            factor *= value**power
            dims += power * np.array(dim)
    return factor, tuple(int(d) for d in dims)


def _symbol(symbol: str, unit: str) -> tuple[float, tuple[int, int, int]]:
    if symbol in H5MD_SYMBOLS:
        return H5MD_SYMBOLS[symbol]
    for prefix, scale in SI_PREFIXES.items():
        if symbol.startswith(prefix) and symbol[len(prefix) :] in H5MD_SYMBOLS:
            value, dim = H5MD_SYMBOLS[symbol[len(prefix) :]]
            return scale * value, dim
    raise ValueError(f"unknown unit symbol {symbol!r} in {unit!r}")


def unit_factor(quantity: str, unit: str) -> float:
    """Factor converting ``quantity`` from the unit string ``unit`` to mdvib's internal unit.

    Parameters
    ----------
    quantity : str
        ``length``, ``time``, ``velocity``, ``force`` or ``mass``.
    unit : str
        H5MD unit string (see :func:`parse_unit`).

    Raises
    ------
    ValueError
        If the unit is unknown or has the wrong dimension.
    """
    value, dims = parse_unit(unit)
    expected, internal, name = INTERNAL_UNITS[quantity]
    if dims != expected:
        raise ValueError(f"unit {unit!r} is not a {quantity} unit (expected something like {name})")
    return value / internal


# ----------------------------------------------------------------- GPUMD tables

#: GPUMD ``mvac.out`` correlation time (ps) → fs.
GPUMD_MVAC_TIME_TO_FS: float = PS_TO_FS
#: GPUMD ``dos.out`` frequency column: angular frequency in rad/ps; divide by this for linear THz.
RAD_PER_PS_PER_THZ: float = 2.0 * math.pi
