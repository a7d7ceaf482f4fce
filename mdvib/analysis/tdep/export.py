"""Phonopy/phono3py files, phonon dispersion, DOS and plots from fitted force constants.

phonopy does the lattice dynamics (dynamical matrices, DOS, free energy);
this module only places the fitted constants into phonopy's supercell:

* the unit cell is the one given, or spglib's standardised conventional
  cell (``no_idealize``: not rotated), shifted so that one of its atoms sits
  on a reference atom;
* the supercell matrix is L_ref · L_unit⁻¹ (must be integral);
* phonopy's supercell atoms are matched to reference atoms by position, and
  the force constants are written in phonopy's order, compact
  (primitive atoms × supercell atoms);
* phonopy's own symmetry search is switched off (``is_symmetry=False``): on
  a 512-atom supercell it costs ~5 s (atom permutations of 12288 operations)
  and is not needed, since the fitted constants are already symmetric.

phono3py is not a dependency, so ``fc3.hdf5`` is written with h5py in
phono3py's compact layout: dataset ``fc3`` of shape (n_patom, N, N, 3, 3, 3)
(eV/Å³, gzip-compressed) and ``p2s_map``; ``fc2.hdf5`` beside it holds FC2 in
phonopy's compact HDF5 layout. ``phono3py.load("OUTDIR/phonopy.yaml",
fc3_filename=..., fc2_filename=...)`` reads the set back (checked in the
tests, including a lattice thermal conductivity and a finite-difference check
of the FC3 index convention against the potential's forces).
The dispersion path comes from seekpath, as in ``Phonopy.auto_band_structure``
(which assumes phonopy's primitive cell is seekpath's standard one).
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np

from mdvib.analysis.tdep.fit import TDEPResult
from mdvib.analysis.tdep.reference import PeriodicSites, Reference
from mdvib.errors import SettingsError
from mdvib.results import atomic_path, quantity, result_type, save_result

#: A mode below −this (THz) counts as imaginary.
IMAGINARY_THZ = 0.05

#: seekpath label → plot label.
_LABELS = {"GAMMA": "Γ"}


@dataclasses.dataclass(frozen=True)
class PhonopyModel:
    """A phonopy object holding fitted FC2, and how its supercell maps onto the reference.

    Attributes
    ----------
    phonon : phonopy.Phonopy
        With compact force constants set.
    reference_index : ndarray, shape (N,), int64
        Reference atom of each phonopy supercell atom.
    supercell_matrix : ndarray, shape (3, 3), int
        Reference cell rows = ``supercell_matrix @ unit cell rows``.
    """

    phonon: object
    reference_index: np.ndarray
    supercell_matrix: np.ndarray


def standard_unitcell(reference: Reference, symprec: float = 1e-3, primitive: bool = False) -> Reference:
    """spglib's standardised conventional (or, with ``primitive``, primitive) cell, in the reference's orientation."""
    import spglib

    species = sorted(set(reference.species))
    numbers = np.array([species.index(s) + 1 for s in reference.species])
    out = spglib.standardize_cell((reference.cell, reference.scaled_positions, numbers), to_primitive=primitive,
                                  no_idealize=True, symprec=symprec)
    if out is None:
        raise SettingsError(f"{reference.path or 'reference'}: spglib cannot standardise the reference cell "
                            f"(symprec {symprec}); give --unitcell")
    lattice, frac, nums = out
    symbols = tuple(species[k - 1] for k in nums)
    mass_of = dict(zip(reference.species, reference.masses))
    return Reference(cell=np.asarray(lattice), positions=np.asarray(frac) @ lattice, species=symbols,
                     masses=np.array([mass_of[s] for s in symbols]),
                     path=f"spglib {'primitive' if primitive else 'standardised'} cell")


def build_phonopy(result: TDEPResult, unitcell: Reference | None = None, symprec: float = 1e-3,
                  primitive_matrix="auto") -> PhonopyModel:
    """Phonopy object with the fitted FC2 (compact) in phonopy's supercell order.

    Parameters
    ----------
    result : TDEPResult
    unitcell : Reference, optional
        Unit cell (same orientation as the reference); default: spglib's standardised cell.
    symprec : float
        Tolerance, Å.
    primitive_matrix : str or array
        Passed to phonopy (``"auto"``: the primitive cell found by spglib).

    Raises
    ------
    SettingsError
        If the unit cell does not tile the reference supercell.
    """
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms
    from phonopy.structure.cells import PrimitiveMatrixAutoDefaultWarning

    reference = result.reference()
    unit = unitcell or standard_unitcell(reference, symprec)
    ratio = reference.cell @ np.linalg.inv(unit.cell)
    matrix = np.rint(ratio).astype(int)
    if (np.abs(ratio - matrix).max() > 1e-3
            or abs(round(np.linalg.det(matrix))) * len(unit.species) != reference.n_atoms):
        raise SettingsError(
            f"{unit.path or 'unit cell'}: its lattice does not tile the reference supercell "
            f"(reference = M · unit cell with M = {np.round(ratio, 3).tolist()}); give a unit cell with the same "
            "orientation and lattice parameter as the reference")
    sites = PeriodicSites(reference.scaled_positions, reference.cell, 4.0 * symprec)
    inv_ref = np.linalg.inv(reference.cell)
    candidates = [k for k, s in enumerate(reference.species) if s == unit.species[0]]
    phonon = index = None
    for k in candidates:
        shift = reference.positions[k] - unit.positions[0]
        atoms = PhonopyAtoms(symbols=list(unit.species), cell=unit.cell, positions=unit.positions + shift,
                             masses=list(unit.masses))
        with warnings.catch_warnings():  # "auto" is our explicit choice, not phonopy v4's changed default
            warnings.simplefilter("ignore", PrimitiveMatrixAutoDefaultWarning)
            phonon = Phonopy(atoms, supercell_matrix=matrix.T, primitive_matrix=primitive_matrix, symprec=symprec,
                             is_symmetry=False)
        index = sites.query(phonon.supercell.positions @ inv_ref)
        if (index >= 0).all() and np.unique(index).size == reference.n_atoms:
            break
        phonon = None
    if phonon is None:
        raise SettingsError(f"{unit.path or 'unit cell'}: its atoms do not coincide with reference atoms for any "
                            "origin; give a unit cell of the same crystal")
    index = np.asarray(index, dtype=np.int64)
    if [reference.species[i] for i in index] != list(phonon.supercell.symbols):
        raise SettingsError(f"{unit.path or 'unit cell'}: species do not match the reference")
    p2s = np.asarray(phonon.primitive.p2s_map)
    rows = result.fc2_rows(index[p2s])  # (n_p, N_ref, 3, 3)
    phonon.force_constants = np.ascontiguousarray(rows[:, index])
    return PhonopyModel(phonon=phonon, reference_index=index, supercell_matrix=matrix)


def write_fc2_hdf5(model: PhonopyModel, path: str | Path) -> None:
    """Write the model's compact FC2 (eV/Å², shape (n_patom, N, 3, 3)) in phonopy's HDF5 layout (atomically).

    phono3py reads it as ``fc2.hdf5`` (dataset ``force_constants`` and ``p2s_map``).
    """
    from phonopy.file_IO import write_force_constants_to_hdf5

    phonon = model.phonon
    with atomic_path(path) as tmp:
        write_force_constants_to_hdf5(phonon.force_constants, filename=str(tmp), p2s_map=phonon.primitive.p2s_map,
                                      physical_unit="eV/angstrom^2")


def write_fc3_hdf5(result: TDEPResult, model: PhonopyModel, path: str | Path) -> None:
    """Write FC3 (eV/Å³) in phono3py's compact HDF5 layout, in phonopy's supercell order (atomically).

    Dataset ``fc3`` has shape (n_patom, N, N, 3, 3, 3): Φ_iαjβkγ with i the
    primitive atoms ``p2s_map`` and j, k all supercell atoms, phonopy's order.
    """
    import h5py

    index = model.reference_index
    p2s = np.asarray(model.phonon.primitive.p2s_map, dtype=np.int64)
    n = len(index)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            # gzip: the dense compact array is mostly zeros beyond rc3 (113 MB → ~1 MB at 512 atoms)
            data = h5.create_dataset("fc3", shape=(len(p2s), n, n, 3, 3, 3), dtype="double", compression="gzip",
                                     compression_opts=1, chunks=(1, 1, n, 3, 3, 3))
            for row, atom in enumerate(p2s):
                fc = result.fc3_rows(index[[atom]])[0]
                data[row] = fc[np.ix_(index, index)]
            h5.create_dataset("p2s_map", data=p2s)
            h5.attrs["unit"] = "eV/angstrom^3"


@result_type
@dataclasses.dataclass(frozen=True)
class PhononSpectrum:
    """Phonons of fitted force constants: dispersion, special points, DOS, free energy."""

    distances: np.ndarray = quantity("1/Å", "(n_q,)", "path coordinate along the dispersion (2π/Å excluded)")
    frequencies: np.ndarray = quantity("THz", "(n_q, n_bands)", "frequencies along the path (negative: imaginary)")
    segment_starts: np.ndarray = quantity("", "(n_segments,)", "first q-point index of each straight segment")
    labels: tuple[str, ...] = quantity("", "(2 n_segments,)", "start and end label of each segment")
    point_labels: tuple[str, ...] = quantity("", "(n_points,)", "special points (seekpath)")
    point_qpoints: np.ndarray = quantity("1", "(n_points, 3)", "their reduced coordinates (primitive reciprocal)")
    point_frequencies: np.ndarray = quantity("THz", "(n_points, n_bands)", "frequencies at the special points")
    dos_frequencies: np.ndarray = quantity("THz", "(n_dos,)", "DOS frequency grid")
    dos: np.ndarray = quantity("1/THz", "(n_dos,)", "phonon DOS per primitive cell (∫ = 3 n_patom)")
    min_frequency: float = quantity("THz", "()", "lowest frequency on the mesh and the path")
    temperature_k: float = quantity("K", "()", "temperature of the thermal properties", optional=True)
    free_energy: float = quantity("kJ/mol", "()", "harmonic free energy per primitive cell at temperature_k",
                                  optional=True)
    entropy: float = quantity("J/K/mol", "()", "harmonic entropy at temperature_k", optional=True)
    heat_capacity: float = quantity("J/K/mol", "()", "harmonic C_V at temperature_k", optional=True)

    def save(self, path) -> None:
        """Write to HDF5."""
        save_result(self, path)

    def summary(self) -> str:
        """Frequencies at the special points (THz), the lowest frequency and the free energy."""
        lines = ["frequencies at special points (THz):"]
        for label, freqs in zip(self.point_labels, self.point_frequencies):
            distinct = np.unique(np.round(freqs, 3))
            lines.append(f"  {label:>3}: " + " ".join(f"{f:.3f}" for f in distinct))
        lines.append(f"lowest frequency: {self.min_frequency:.3f} THz")
        if self.free_energy is not None:
            lines.append(f"harmonic free energy at {self.temperature_k:g} K: {self.free_energy:.4f} kJ/mol "
                         "(per primitive cell)")
        return "\n".join(lines)


def phonon_spectrum(model: PhonopyModel, temperature_k: float | None = None, npoints: int = 51,
                    mesh: float = 40.0) -> PhononSpectrum:
    """Dispersion along seekpath's path, frequencies at its special points, DOS and thermal properties.

    Parameters
    ----------
    model : PhonopyModel
    temperature_k : float, optional
        Temperature of the harmonic free energy, entropy, heat capacity.
    npoints : int
        q-points per path segment.
    mesh : float
        phonopy mesh length (q-point density) for the DOS.
    """
    import seekpath

    phonon = model.phonon
    path = seekpath.get_path(phonon.primitive.totuple())
    coords = path["point_coords"]
    bands = [np.linspace(coords[a], coords[b], npoints) for a, b in path["path"]]
    phonon.run_band_structure(bands, with_eigenvectors=False)
    band = phonon.band_structure
    distances = np.concatenate(band.distances)
    frequencies = np.concatenate(band.frequencies)
    starts = np.cumsum([0] + [len(d) for d in band.distances[:-1]])
    labels = tuple(_LABELS.get(name, name) for pair in path["path"] for name in pair)
    names = list(dict.fromkeys(name for pair in path["path"] for name in pair))
    qpoints = np.array([coords[name] for name in names], float)
    phonon.run_qpoints(qpoints)
    point_freqs = np.asarray(phonon.qpoints.frequencies)
    phonon.run_mesh(mesh)
    phonon.run_total_dos()
    dos = phonon.total_dos
    mesh_min = float(np.min(phonon.mesh.frequencies))
    thermal = {}
    if temperature_k:
        phonon.run_thermal_properties(temperatures=[temperature_k], exclude_gamma_acoustic=True)
        props = phonon.thermal_properties
        thermal = {"free_energy": float(props.free_energy[0]), "entropy": float(props.entropy[0]),
                   "heat_capacity": float(props.heat_capacity[0])}
    return PhononSpectrum(
        distances=distances, frequencies=frequencies, segment_starts=np.asarray(starts), labels=labels,
        point_labels=tuple(_LABELS.get(n, n) for n in names), point_qpoints=qpoints, point_frequencies=point_freqs,
        dos_frequencies=np.asarray(dos.frequency_points), dos=np.asarray(dos.dos),
        min_frequency=min(mesh_min, float(frequencies.min())), temperature_k=temperature_k, **thermal)


def imaginary_warning(spectrum: PhononSpectrum) -> str | None:
    """A warning text when the fitted constants have imaginary modes, else ``None``."""
    if spectrum.min_frequency >= -IMAGINARY_THZ:
        return None
    return (f"imaginary modes: the lowest frequency is {spectrum.min_frequency:.3f} THz (shown negative); "
            "the fit is unstable (too few snapshots, too small a cutoff, or a dynamically unstable structure)")


def plot_dispersion(spectra: list[tuple[str, PhononSpectrum]], path: str | Path) -> None:
    """Dispersion (and DOS) of one or more fits on one figure, written atomically.

    Parameters
    ----------
    spectra : list of (label, PhononSpectrum)
        E.g. one per temperature; all must share the path (same crystal).
    path : str or Path
        Image file (.png, .pdf, .svg).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax_dos) = plt.subplots(1, 2, figsize=(8, 4.5), sharey=True, gridspec_kw={"width_ratios": [3, 1]})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    first = spectra[0][1]
    for n, (label, spec) in enumerate(spectra):
        color = colors[n % len(colors)]
        bounds = list(spec.segment_starts) + [len(spec.distances)]
        for s in range(len(bounds) - 1):
            seg = slice(bounds[s], bounds[s + 1])
            lines = ax.plot(spec.distances[seg], spec.frequencies[seg], color=color, lw=1)
            if s == 0 and label:
                lines[0].set_label(label)
        ax_dos.plot(spec.dos, spec.dos_frequencies, color=color, lw=1)
    ticks, names = [], []
    bounds = list(first.segment_starts) + [len(first.distances)]
    for s in range(len(bounds) - 1):
        start, end = first.distances[bounds[s]], first.distances[bounds[s + 1] - 1]
        a, b = first.labels[2 * s], first.labels[2 * s + 1]
        if ticks and abs(ticks[-1] - start) < 1e-9:
            if names[-1] != a:
                names[-1] = f"{names[-1]}|{a}"
        else:
            ticks.append(start)
            names.append(a)
        ticks.append(end)
        names.append(b)
    for t in ticks:
        ax.axvline(t, color="0.7", lw=0.5)
    ax.axhline(0.0, color="0.5", lw=0.5)
    ax.set_xticks(ticks)
    ax.set_xticklabels(names)
    ax.set_xlim(first.distances[0], first.distances[-1])
    ax.set_ylabel("frequency (THz)")
    ax_dos.set_xlabel("DOS (1/THz)")
    ax_dos.set_xlim(left=0)
    if any(label for label, _ in spectra):
        ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    from mdvib.plot import save_figure

    save_figure(fig, path)


def write_outputs(result: TDEPResult, outdir: str | Path, unitcell: Reference | None = None,
                  plot: bool = True) -> tuple[PhonopyModel, PhononSpectrum, list[Path]]:
    """Write OUTDIR/{FORCE_CONSTANTS, phonopy.yaml, fc2.hdf5, fc3.hdf5, tdep.h5, phonons.h5, dispersion.png}.

    ``phonopy.yaml`` carries the compact force constants, so
    ``phonopy.load("OUTDIR/phonopy.yaml")`` is self-contained; ``FORCE_CONSTANTS``
    holds the same constants in phonopy's text format (compact, with p2s_map).
    With FC3, ``fc2.hdf5`` and ``fc3.hdf5`` are the pair phono3py reads:
    ``phono3py.load("OUTDIR/phonopy.yaml", fc2_filename="OUTDIR/fc2.hdf5",
    fc3_filename="OUTDIR/fc3.hdf5", symmetrize_fc=False)``.

    Returns
    -------
    model, spectrum, written files
    """
    from phonopy.file_IO import write_FORCE_CONSTANTS

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    model = build_phonopy(result, unitcell)
    phonon = model.phonon
    written = []
    with atomic_path(outdir / "FORCE_CONSTANTS") as tmp:
        write_FORCE_CONSTANTS(phonon.force_constants, filename=tmp, p2s_map=phonon.primitive.p2s_map)
    written.append(outdir / "FORCE_CONSTANTS")
    with atomic_path(outdir / "phonopy.yaml") as tmp:
        phonon.save(filename=tmp, settings={"force_constants": True})
    written.append(outdir / "phonopy.yaml")
    if result.fc3_atoms is not None:
        write_fc2_hdf5(model, outdir / "fc2.hdf5")
        write_fc3_hdf5(result, model, outdir / "fc3.hdf5")
        written += [outdir / "fc2.hdf5", outdir / "fc3.hdf5"]
    spectrum = phonon_spectrum(model, result.temperature_k)
    result.save(outdir / "tdep.h5")
    spectrum.save(outdir / "phonons.h5")
    written += [outdir / "tdep.h5", outdir / "phonons.h5"]
    if plot:
        label = f"{result.temperature_k:g} K" if result.temperature_k else ""
        plot_dispersion([(label, spectrum)], outdir / "dispersion.png")
        written.append(outdir / "dispersion.png")
    return model, spectrum, written
