"""Inelastic neutron scattering: instrument-resolved powder spectra from a DOS or force constants.

* :mod:`~mdvib.spectroscopy.ins.multiphonon` — the incoherent approximation from partial DOS (MD, PIMD);
* :mod:`~mdvib.spectroscopy.ins.phonon_route` — mode-resolved spectra from force constants;
* :mod:`~mdvib.spectroscopy.ins.instruments` — TOSCA, VISION, TFXA, MARI, MAPS, SEQUOIA, ARCS, user files;
* :mod:`~mdvib.spectroscopy.ins.spectrum` — :func:`simulate`: a temperature series on one axis;
* :mod:`~mdvib.spectroscopy.ins.campaign` — ``mdvib ins`` and ``[analysis.ins]``.
"""

from mdvib.spectroscopy.ins.bins import EnergyBins
from mdvib.spectroscopy.ins.campaign import ANALYSIS, INSSettings
from mdvib.spectroscopy.ins.instruments import get_instrument, instrument_names, load_instrument_file
from mdvib.spectroscopy.ins.multiphonon import IncoherentDOSModel
from mdvib.spectroscopy.ins.spectrum import INSMap, INSSpectrum, simulate

__all__ = ["ANALYSIS", "EnergyBins", "INSMap", "INSSettings", "INSSpectrum", "IncoherentDOSModel", "get_instrument",
           "instrument_names", "load_instrument_file", "simulate"]
