"""Write the measured-spectrum fixtures of tests/spectroscopy/test_measured.py (run: python make_fixtures.py).

Every file holds the same known spectrum, a sum of Gaussians (``density``), so
the tests can check what they read against the formula:

* ``mantid_saveascii.txt`` — Mantid SaveAscii (v2) defaults: ``# X , Y , E``
  header, the spectrum number on its own line, comma-separated rows, numbers
  as C++ streams print them (6 significant digits); X in meV (not recorded);
* ``mantid_saveascii_dx.txt`` — the same with ``WriteXError`` (``, DX`` column);
* ``mantid_saveascii_two_spectra.txt`` — two spectra in one file (refused);
* ``mantid_nexus.nxs`` — Mantid SaveNexusProcessed layout,
  ``/mantid_workspace_1/workspace/{axis1, values, errors, axis2}``; a histogram
  in cm⁻¹ (``units = DeltaE_inWavenumber``) holding counts per bin, i.e.
  density × bin width, on non-uniform edges;
* ``tosca_cm1.dat`` — whitespace columns with a ``# Energy (cm-1)`` header,
  energies descending as some reductions write them.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

HERE = Path(__file__).resolve().parent
#: Peaks of the fixture spectrum: (centre, height, σ) in the energy unit of each file.
PEAKS = ((12.0, 1.0, 1.5), (30.0, 0.5, 2.0))
ERROR = 0.01


def density(x: np.ndarray) -> np.ndarray:
    """The fixture spectrum at ``x`` (in the file's energy unit)."""
    return sum(h * np.exp(-0.5 * ((x - c) / s) ** 2) for c, h, s in PEAKS)


def _g(value: float) -> str:
    return f"{value:.6g}"


def saveascii(path: Path, spectra: int = 1, dx: bool = False) -> None:
    x = np.arange(-5.0, 40.0, 0.5)
    lines = ["# X , Y , E" + (" , DX" if dx else "")]
    for number in range(1, spectra + 1):
        lines.append(str(number))
        for value in x:
            row = [value, number * density(value), ERROR]
            if dx:
                row.append(0.05)
            lines.append(",".join(_g(v) for v in row))
    path.write_text("\n".join(lines) + "\n")


def nexus(path: Path) -> None:
    edges = np.concatenate([np.arange(20.0, 200.0, 4.0), np.arange(200.0, 400.01, 8.0)])   # cm-1
    centres = 0.5 * (edges[1:] + edges[:-1])
    widths = np.diff(edges)
    with h5py.File(path, "w") as h5:
        entry = h5.create_group("mantid_workspace_1")
        entry.attrs["NX_class"] = np.bytes_("NXentry")
        entry.create_dataset("title", data=np.bytes_("fixture"))
        group = entry.create_group("workspace")
        group.attrs["NX_class"] = np.bytes_("NXdata")
        values = group.create_dataset("values", data=(density(centres / 8.0) * widths)[None, :])
        values.attrs["signal"] = np.int32(1)
        values.attrs["axes"] = np.bytes_("axis2,axis1")
        values.attrs["units"] = np.bytes_("Counts")
        group.create_dataset("errors", data=np.full((1, centres.size), ERROR) * widths)
        axis1 = group.create_dataset("axis1", data=edges)
        axis1.attrs["units"] = np.bytes_("DeltaE_inWavenumber")
        axis2 = group.create_dataset("axis2", data=np.array([1.0]))
        axis2.attrs["units"] = np.bytes_("spectraNumber")


def tosca(path: Path) -> None:
    x = np.arange(400.0, 20.0, -4.0)      # cm-1, descending
    lines = ["# TOSCA-like spectrum, fixture of mdvib", "# Energy (cm-1)   S(Q,w)   error"]
    lines += [f"{v:10.3f} {density(v / 8.0):14.8e} {ERROR:10.4f}" for v in x]
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    saveascii(HERE / "mantid_saveascii.txt")
    saveascii(HERE / "mantid_saveascii_dx.txt", dx=True)
    saveascii(HERE / "mantid_saveascii_two_spectra.txt", spectra=2)
    nexus(HERE / "mantid_nexus.nxs")
    tosca(HERE / "tosca_cm1.dat")
