"""Internal unit system of mdvib and named conversions.

Internal units (DESIGN.md; docs/physics.md, "Units"): length Å, time fs, mass amu, energy eV,
temperature K, charge e. Frequencies are reported as linear THz; angular
frequencies appear only inside kernels.

Constants are CODATA 2018 values (the same set ASE and scipy.constants use).
Conversions from engine units happen only in readers and engine boundaries.
"""

from __future__ import annotations

import scipy.constants as _sc

#: Boltzmann constant in eV/K.
KB_EV_PER_K: float = _sc.k / _sc.e
#: Reduced Planck constant in eV·fs.
HBAR_EV_FS: float = _sc.hbar / _sc.e * 1e15
#: Planck constant in eV/THz (energy of a 1 THz quantum, in eV).
H_EV_PER_THZ: float = _sc.h / _sc.e * 1e12
#: amu·Å²/fs² expressed in eV (kinetic energy m v² with v in Å/fs).
AMU_A2_PER_FS2_IN_EV: float = _sc.atomic_mass * 1e-20 / 1e-30 / _sc.e

#: 1 THz in meV (exact to the digits given in docs/physics.md, "Units": 4.135667696).
THZ_TO_MEV: float = H_EV_PER_THZ * 1e3
#: 1 THz in cm⁻¹ (33.35640952).
THZ_TO_INV_CM: float = 1e12 / (_sc.c * 100.0)

#: Velocity conversion factors from a source unit to Å/fs.
VELOCITY_TO_A_PER_FS: dict[str, float] = {
    "A/fs": 1.0,
    "A/ps": 1e-3,
    "bohr/atu": _sc.physical_constants["Bohr radius"][0] * 1e10
    / (_sc.physical_constants["atomic unit of time"][0] * 1e15),
}

#: LAMMPS unit styles mdvib reads: velocity, time and force units of each.
LAMMPS_UNIT_STYLES: dict[str, dict[str, str | float]] = {
    # metal: Å, ps, eV; timestep in ps
    "metal": {"velocity": "A/ps", "time_to_fs": 1e3, "force_to_eV_per_A": 1.0},
    # real: Å, fs, kcal/mol; timestep in fs
    "real": {
        "velocity": "A/fs",
        "time_to_fs": 1.0,
        "force_to_eV_per_A": _sc.calorie * 1e3 / _sc.N_A / _sc.e,
    },
}

FREQUENCY_UNITS: dict[str, float] = {"THz": 1.0, "meV": THZ_TO_MEV, "cm-1": THZ_TO_INV_CM}


def convert_frequency(values_thz, unit: str):
    """Convert linear frequencies from THz to ``unit`` (``THz``, ``meV`` or ``cm-1``).

    Parameters
    ----------
    values_thz : float or ndarray
        Frequencies in THz.
    unit : str
        Target unit, one of :data:`FREQUENCY_UNITS`.
    """
    try:
        return values_thz * FREQUENCY_UNITS[unit]
    except KeyError:
        raise ValueError(
            f"unknown frequency unit {unit!r}; choose one of {sorted(FREQUENCY_UNITS)}"
        ) from None
