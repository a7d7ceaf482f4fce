"""Bound neutron scattering cross sections (Sears 1992) via :mod:`periodictable`.

Symbols may name an isotope as ``D``, ``T`` or ``Si29`` style strings
(``element`` + mass number).
"""

from __future__ import annotations

import re

import periodictable

from mdvib.errors import SettingsError

#: Cross-section kinds mdvib exposes, mapped to ``periodictable`` attribute names.
CROSS_SECTION_KINDS: dict[str, str] = {"total": "total", "coherent": "coherent", "incoherent": "incoherent"}


def isotope(symbol: str):
    """The :mod:`periodictable` element or isotope a symbol names (``"Si"``, ``"D"``, ``"B11"``)."""
    match = re.fullmatch(r"([A-Z][a-z]?)(\d*)", symbol)
    if match is None:
        raise SettingsError(f"{symbol!r} is not a chemical symbol (expected e.g. 'Si', 'H', 'D', 'C13')")
    element_symbol, mass_number = match.groups()
    try:
        element = periodictable.elements.symbol(element_symbol)
    except ValueError:
        raise SettingsError(f"unknown element {element_symbol!r}") from None
    return element[int(mass_number)] if mass_number else element


def bound_cross_section(symbol: str, kind: str = "total") -> float:
    """Bound scattering cross section of an element or isotope, in barn.

    Parameters
    ----------
    symbol : str
        Chemical symbol (``"Si"``), isotope (``"D"``, ``"Si29"``).
    kind : {"total", "coherent", "incoherent"}
        Which cross section.

    Raises
    ------
    SettingsError
        For an unknown symbol or kind, or when no value is tabulated.
    """
    if kind not in CROSS_SECTION_KINDS:
        raise SettingsError(f"unknown cross-section kind {kind!r}; choose one of {sorted(CROSS_SECTION_KINDS)}")
    value = getattr(isotope(symbol).neutron, CROSS_SECTION_KINDS[kind], None)
    if value is None:
        raise SettingsError(f"no tabulated {kind} neutron cross section for {symbol!r}")
    return float(value)
