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
        For a symbol that is neither an element nor in ``overrides``; the
        dummy element ``X`` (ASE's table gives it 1.0) must be in ``overrides``.
    """
    overrides = overrides or {}
    table: dict[str, float] = {}
    for symbol in dict.fromkeys(species):
        if symbol in overrides:
            table[symbol] = float(overrides[symbol])
        elif symbol in atomic_numbers and symbol != "X":
            table[symbol] = float(atomic_masses[atomic_numbers[symbol]])
        else:
            what = "the dummy element" if symbol == "X" else "unknown element"
            raise SettingsError(f"{what} {symbol!r} has no mass: give it with --masses {symbol}=AMU "
                                f"(masses={{{symbol!r}: ...}}) or name the element with --types/--species")
    return np.array([table[s] for s in species], dtype=np.float64)
