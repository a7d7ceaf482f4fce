"""Spectroscopy from vibrational results: inelastic neutron scattering (:mod:`mdvib.spectroscopy.ins`)
and the comparison of simulated spectra with measured ones (:mod:`mdvib.spectroscopy.compare`)."""
