"""Standard atomic masses for chemical symbols (ASE's table, IUPAC values)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase.data import atomic_masses, atomic_numbers

from mdvib.errors import SettingsError


def masses_for_species(species: Sequence[str], overrides: dict[str, float] | None = None) -> np.ndarray:
    """Mass of each atom in amu, shape (n_atoms,).

    Parameters
    ----------
    species : sequence of str
        Chemical symbol of each atom.
    overrides : dict, optional
        ``{symbol: mass}`` taking precedence (isotopes, coarse-grained sites).

    Raises
    ------
    SettingsError
        For a symbol that is neither an element nor in ``overrides``.
    """
    overrides = overrides or {}
    table: dict[str, float] = {}
    for symbol in dict.fromkeys(species):
        if symbol in overrides:
            table[symbol] = float(overrides[symbol])
        elif symbol in atomic_numbers:
            table[symbol] = float(atomic_masses[atomic_numbers[symbol]])
        else:
            raise SettingsError(f"unknown element {symbol!r}: give its mass explicitly (masses={{{symbol!r}: ...}})")
    return np.array([table[s] for s in species], dtype=np.float64)
