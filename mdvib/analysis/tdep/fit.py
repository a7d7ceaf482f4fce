"""Least-squares fit of effective force constants to MD snapshots, with diagnostics.

docs/physics.md, "TDEP-style effective force constants": F = −Φ₂u − ½Φ₃uu with
symmetry-irreducible parameters (:mod:`mdvib.analysis.tdep.basis`).

The fit streams snapshots: each chunk's design matrix A (3N rows per
snapshot, one column per orbit parameter) is folded into the normal equations
G = AᵀA, h = Aᵀf and Σf², so memory does not grow with the number of
snapshots. Everything else follows from (G, h, Σf²):

* TDEP's sequential fit: FC2 from G₂₂y = h₂, then FC3 on the residual,
  G₃₃x₃ = h₃ − G₃₂x₂ (no second pass over the data);
* the joint fit solves the full system (it gives a different FC2 when FC3
  matters: docs/physics.md, "Reference values", quotes Γ_O 17.689 vs 17.754 THz for SW-Si at 300 K);
* residual Σ|f − Ax|² = Σf² − 2x·h + x·Gx, hence R², the force RMSE and the
  normalised harmonic residual σ_A = √(Σ|f − A₂x₂|² / Σf²) (Knoop et al.'s
  anharmonicity measure, with the mean force removed per snapshot);
* k-fold cross-validation from per-fold normal equations (contiguous blocks
  of snapshots, since MD snapshots are correlated in time).

``run(..., step="auto")`` first streams the selected frames once to estimate
the integrated autocorrelation time of the snapshots
(:mod:`mdvib.analysis.tdep.decorrelation`) and fits every ⌈2 τ_int⌉-th frame.

Columns are scaled to unit diagonal before solving (FC3 columns are ~u times
smaller than FC2 columns), and the solve is a truncated least-squares on the
scaled normal matrix, so parameters without data stay zero.

Rotational invariances (``invariances=("born-huang", "huang")``,
:mod:`mdvib.analysis.tdep.invariances`) are imposed exactly, like the acoustic
sum rules: the FC2 parameters are restricted to the null space of the
constraints, x₂ = Z₂N w, and the fit is least squares in w (constrained least
squares). Since |f − Ax|² = |f − Ax̂|² + (x − x̂)ᵀG(x − x̂) for the unconstrained
solution x̂, this is the minimal-change projection of x̂ onto the constraint set
in the metric of the data, G = AᵀA: it costs the least increase of the force
residual, does not depend on how the parameters are normalised, and comes free
from the normal equations already accumulated. hiPhive instead projects its
fitted parameters in the Euclidean metric of its own parameters (a ridge
regression, ``enforce_rotational_sum_rules``), which moves the constants
further from the data and depends on its eigentensor normalisation. On
rattled lonsdaleite Si (tests) the two agree within 1e-4 THz for the joint
FC2 + FC3 fit, and within 0.02 THz for an FC2-only fit, where the invariances
remove part of FC3's leakage into FC2 and hiPhive's projection moves further.
FC3 is left as fitted (in the sequential fit it is fitted to the residual of
the constrained FC2).
"""

from __future__ import annotations

import contextlib
import dataclasses
import operator
import warnings
from collections.abc import Sequence
from functools import reduce

import numpy as np

from mdvib.analysis.base import AnalysisBase, Part
from mdvib.analysis.tdep.basis import ForceConstantBasis, build_basis, check_cutoffs
from mdvib.analysis.tdep.decorrelation import DECORRELATION_SERIES, Decorrelation, estimate_decorrelation
from mdvib.analysis.tdep.invariances import (
    check_invariances,
    invariant_null_space,
    pair_vectors,
    require_pair_vectors,
    violations,
)
from mdvib.analysis.tdep.reference import AtomMap, Reference, map_first_frame, snapshot_displacements
from mdvib.errors import FitError, MissingDataError, SettingsError, TrajectoryFormatError
from mdvib.io.base import FrameChunk
from mdvib.results import Provenance, quantity, result_type, save_result
from mdvib.trajectory import FrameSelection, Trajectory

#: Fit modes: one order after another (TDEP), or all orders at once.
FIT_MODES = ("sequential", "joint")

#: R² below this means the forces are not described by force constants
#: (thermostat forces, wrong reference, a diffusing or melting system): a warning.
LOW_R2 = 0.8

#: R² below this is a failed fit: an error (FitError) unless ``force=True``.
FAILED_R2 = 0.5

#: The independent force components must number at least this many times the
#: free parameters; fewer is an underdetermined (or nearly so) fit, refused.
MIN_DATA_PER_PARAMETER = 2

#: Memory for one batch of design-matrix rows, bytes.
_BATCH_BYTES = 64 * 2**20


def _single_threaded_blas():
    """Context limiting BLAS to one thread (threadpoolctl when installed, else a no-op)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scipy's usual stack
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


class TDEPWarning(UserWarning):
    """A fit that ran but whose result should be looked at (cutoffs, R², imaginary modes)."""


@result_type
@dataclasses.dataclass(frozen=True)
class TDEPResult:
    """Effective second- (and third-) order force constants fitted to snapshots.

    Force constants are stored as tensors of the clusters whose first atom is
    in the primitive set ``p2s``; every other cluster is a lattice translation
    of one of them (``translations``). :meth:`full_fc2` and :meth:`fc3_rows`
    expand them. Atom indices refer to the reference supercell.
    """

    species: tuple[str, ...] = quantity("", "(N,)", "chemical symbol of each reference atom")
    masses: np.ndarray = quantity("amu", "(N,)", "atomic masses")
    reference_cell: np.ndarray = quantity("Å", "(3, 3)", "reference supercell vectors as rows")
    reference_positions: np.ndarray = quantity("Å", "(N, 3)", "ideal positions")
    p2s: np.ndarray = quantity("", "(n_p,)", "primitive (translation-inequivalent) atoms")
    translations: np.ndarray = quantity("", "(n_t, N)", "atom permutation of each lattice translation")
    fc2_atoms: np.ndarray = quantity("", "(n_c2, 2)", "ordered atom pairs with first atom in p2s")
    fc2_tensors: np.ndarray = quantity("eV/Å²", "(n_c2, 3, 3)", "Φ_iαjβ of each pair")
    rc2: float = quantity("Å", "()", "FC2 cutoff (all pair distances below it)")
    fit_mode: str = quantity("", "()", "sequential (FC2, then FC3 on the residual) or joint")
    n_parameters_fc2: int = quantity("", "()", "free FC2 parameters after symmetry, sum rules and imposed "
                                     "invariances")
    n_parameters_fc3: int = quantity("", "()", "free FC3 parameters (0 without FC3)")
    n_snapshots: int = quantity("", "()", "snapshots fitted")
    r2: float = quantity("", "()", "coefficient of determination of the forces, 1 − Σ|f − f_fit|² / Σ|f|²")
    rmse: float = quantity("eV/Å", "()", "root-mean-square force residual per component")
    r2_harmonic: float = quantity("", "()", "R² of the harmonic part alone")
    anharmonicity: float = quantity("", "()", "normalised harmonic residual σ_A = √(Σ|f − f₂|² / Σ|f|²)")
    force_rms: float = quantity("eV/Å", "()", "root-mean-square force component (mean force removed)")
    spacegroup: str = quantity("", "()", "space group of the reference supercell (spglib)")
    atom_mapping: str = quantity("", "()", "how atoms were matched to sites: id or position")
    fc3_atoms: np.ndarray = quantity("", "(n_c3, 3)", "ordered atom triplets with first atom in p2s", optional=True)
    fc3_tensors: np.ndarray = quantity("eV/Å³", "(n_c3, 3, 3, 3)", "Φ_iαjβkγ of each triplet", optional=True)
    rc3: float = quantity("Å", "()", "FC3 cutoff", optional=True)
    cv_rmse: float = quantity("eV/Å", "()", "k-fold cross-validation force RMSE", optional=True)
    cv_folds: int = quantity("", "()", "folds of the cross-validation", optional=True)
    temperature_k: float = quantity("K", "()", "temperature of the snapshots (as given)", optional=True)
    stride: int = quantity("frames", "()", "frames of the file between fitted snapshots", optional=True)
    tau_int_frames: float = quantity("frames", "()", "integrated autocorrelation time (Sokal) that set an automatic "
                                     "stride, in frames of the file", optional=True)
    tau_int_fs: float = quantity("fs", "()", "the same in fs (NaN when the frame spacing is unknown)", optional=True)
    decorrelation_series: str = quantity("", "()", "series correlated for the automatic stride (displacements or "
                                         "forces, squared and mass-weighted)", optional=True)
    invariances: tuple[str, ...] = quantity("", "(n_invariances,)", "rotational invariances imposed on FC2 "
                                            "(born-huang, huang); None: none", optional=True)
    rotational_violation: np.ndarray = quantity(
        "", "(2,)", "relative violation of the Born–Huang and Huang conditions by the fitted FC2 (0: exact; None "
        "when rc2 reaches half the supercell width)", optional=True)
    rotational_violation_unconstrained: np.ndarray = quantity(
        "", "(2,)", "the same for the fit without the imposed invariances (only when some are imposed)", optional=True)
    warnings: tuple[str, ...] = quantity("", "(n_warnings,)", "warnings raised during the fit", optional=True)
    provenance: Provenance = dataclasses.field(default=None)

    @property
    def n_atoms(self) -> int:
        """Atoms in the reference supercell."""
        return len(self.species)

    def reference(self) -> Reference:
        """The reference supercell the force constants refer to."""
        return Reference(cell=self.reference_cell, positions=self.reference_positions, species=self.species,
                         masses=self.masses)

    def _expand(self, atoms: np.ndarray, tensors: np.ndarray, first_atoms: np.ndarray) -> np.ndarray:
        n = self.n_atoms
        order = atoms.shape[1]
        out = np.zeros((len(first_atoms),) + (n,) * (order - 1) + (3,) * order)
        for row, atom in enumerate(np.asarray(first_atoms)):
            t, p = np.argwhere(self.translations[:, self.p2s] == atom)[0]
            mine = atoms[:, 0] == self.p2s[p]
            index = tuple(self.translations[t, atoms[mine, m]] for m in range(1, order))
            out[(row,) + index] = tensors[mine]
        return out

    def fc2_rows(self, first_atoms: np.ndarray) -> np.ndarray:
        """Φ_iαjβ (eV/Å²) for the given atoms i, shape (len(first_atoms), N, 3, 3)."""
        return self._expand(self.fc2_atoms, self.fc2_tensors, first_atoms)

    def full_fc2(self) -> np.ndarray:
        """Supercell FC2 (eV/Å²) in reference order, shape (N, N, 3, 3)."""
        return self.fc2_rows(np.arange(self.n_atoms))

    def fc3_rows(self, first_atoms: np.ndarray) -> np.ndarray:
        """Φ_iαjβkγ (eV/Å³) for the given atoms i, shape (len(first_atoms), N, N, 3, 3, 3).

        Raises
        ------
        MissingDataError
            If no FC3 was fitted.
        """
        if self.fc3_atoms is None:
            raise MissingDataError("no third-order force constants were fitted (give rc3)")
        return self._expand(self.fc3_atoms, self.fc3_tensors, first_atoms)

    def save(self, path) -> None:
        """Write to HDF5 (typed, with units and provenance)."""
        save_result(self, path)

    def summary(self) -> str:
        """Human-readable diagnostics."""
        lines = [
            f"reference: {self.n_atoms} atoms, space group {self.spacegroup}; atoms matched by {self.atom_mapping}",
            f"snapshots: {self.n_snapshots}" + (f" at {self.temperature_k:g} K" if self.temperature_k else "")
            + (f", stride {self.stride}" if self.stride else "")
            + (f" (automatic: 2 τ_int of the {self.decorrelation_series}, τ_int = {self.tau_int_frames:.3g} frames"
               + (f" = {self.tau_int_fs:.3g} fs" if np.isfinite(self.tau_int_fs) else "") + ")"
               if self.tau_int_frames is not None else ""),
            f"parameters: FC2 {self.n_parameters_fc2} (rc2 {self.rc2:g} Å)"
            + (f", FC3 {self.n_parameters_fc3} (rc3 {self.rc3:g} Å)" if self.rc3 else "")
            + f"; fit: {self.fit_mode}",
            f"R² = {self.r2:.5f}, force RMSE = {self.rmse:.4g} eV/Å (force RMS {self.force_rms:.4g} eV/Å)",
            f"harmonic part: R² = {self.r2_harmonic:.5f}, anharmonicity σ_A = {self.anharmonicity:.4f}",
        ]
        if self.cv_rmse is not None:
            lines.append(f"{self.cv_folds}-fold cross-validation RMSE = {self.cv_rmse:.4g} eV/Å")
        if self.rotational_violation is not None:
            now = self.rotational_violation
            if self.invariances:
                before = self.rotational_violation_unconstrained
                lines.append(f"rotational invariances imposed on FC2: {', '.join(self.invariances)}; relative "
                             f"violation Born–Huang {before[0]:.2g} → {now[0]:.2g}, Huang {before[1]:.2g} → "
                             f"{now[1]:.2g}")
            else:
                lines.append(f"rotational invariances (not imposed): relative violation Born–Huang {now[0]:.2g}, "
                             f"Huang {now[1]:.2g}")
        for text in self.warnings or ():
            lines.append(f"warning: {text}")
        return "\n".join(lines)


@dataclasses.dataclass
class _Normal:
    """Normal equations of a set of snapshots."""

    g: np.ndarray
    h: np.ndarray
    ff: float = 0.0
    rows: int = 0

    @classmethod
    def zeros(cls, n: int) -> _Normal:
        return cls(np.zeros((n, n)), np.zeros(n))

    def add(self, a: np.ndarray, f: np.ndarray) -> None:
        self.g += a.T @ a
        self.h += a.T @ f
        self.ff += float(f @ f)
        self.rows += f.size

    def __add__(self, other: _Normal) -> _Normal:
        return _Normal(self.g + other.g, self.h + other.h, self.ff + other.ff, self.rows + other.rows)

    def __sub__(self, other: _Normal) -> _Normal:
        return _Normal(self.g - other.g, self.h - other.h, self.ff - other.ff, self.rows - other.rows)

    def residual(self, x: np.ndarray) -> float:
        """Σ|f − Ax|² (clipped at 0 against round-off)."""
        return max(self.ff - 2.0 * float(x @ self.h) + float(x @ self.g @ x), 0.0)


def _solve(g: np.ndarray, h: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Least-squares x = Z y minimising |f − A Z y|² from normal equations (scaled, truncated)."""
    m = z.T @ g @ z
    b = z.T @ h
    d = np.sqrt(np.clip(np.diag(m), 0.0, None))
    d[d == 0] = 1.0
    y = np.linalg.lstsq(m / np.outer(d, d), b / d, rcond=1e-12)[0] / d
    return z @ y


def solve_normal(normal: _Normal, basis: ForceConstantBasis, mode: str) -> np.ndarray:
    """Orbit parameters x (FC2 then FC3) from normal equations, ``mode`` in :data:`FIT_MODES`."""
    n2 = basis.fc2.n_parameters
    if basis.fc3 is None:
        return _solve(normal.g, normal.h, basis.z2)
    if mode == "joint":
        z = np.zeros((basis.n_x, sum(basis.n_free)))
        z[:n2, : basis.z2.shape[1]] = basis.z2
        z[n2:, basis.z2.shape[1]:] = basis.z3
        return _solve(normal.g, normal.h, z)
    x2 = _solve(normal.g[:n2, :n2], normal.h[:n2], basis.z2)
    x3 = _solve(normal.g[n2:, n2:], normal.h[n2:] - normal.g[n2:, :n2] @ x2, basis.z3)
    return np.concatenate([x2, x3])


class TDEPAnalysis(AnalysisBase):
    """Fit effective force constants to the snapshots of a trajectory.

    Parameters
    ----------
    reference : Reference
        Ideal supercell the MD was run in (see :func:`~mdvib.analysis.tdep.reference.read_reference`).
    rc2 : float
        FC2 cutoff, Å.
    rc3 : float, optional
        FC3 cutoff, Å (all three pair distances below it); FC2 only when omitted.
    fit : {"sequential", "joint"}
        FC2 first and FC3 on the residual (TDEP), or both at once.
    cv_folds : int
        Folds of a k-fold cross-validation (0: none; else at least 2).
    temperature_k : float, optional
        Temperature of the snapshots, recorded and used for thermal properties.
    tolerance : float, optional
        Largest allowed distance of an atom from its site, Å (default 0.4 × nearest-neighbour distance).
    decorrelation_series : str
        Series whose integrated autocorrelation time sets ``run(step="auto")``: a key of
        :data:`~mdvib.analysis.tdep.decorrelation.DECORRELATION_SERIES` (``"displacements"``
        or ``"forces"``).
    remove_drift : bool
        Remove the centre-of-mass shift and the mean force of every snapshot.
    symprec : float
        spglib tolerance for the reference's symmetry, Å.
    invariances : sequence of str
        Rotational invariances to impose exactly on FC2, names from
        :data:`~mdvib.analysis.tdep.invariances.INVARIANCES`: ``"born-huang"`` (rotational
        sum rules), ``"huang"`` (stress-free equilibrium); by constrained least squares
        (module docstring). Needs rc2 below half the shortest supercell width.
    progress : bool
        Show a progress bar.
    force : bool
        Return a fit whose R² is below :data:`FAILED_R2` (with a warning) instead of raising.

    Raises
    ------
    SettingsError
        For invalid settings (non-positive cutoffs, unknown fit mode or invariance, ...); in
        :meth:`run`, before any frame is fitted, for cutoffs that include no pair or an rc3
        beyond half the supercell width (:func:`~mdvib.analysis.tdep.basis.check_cutoffs`).
    TrajectoryFormatError
        In :meth:`run`: a reference of another size, or whose cell is not the trajectory's
        up to a rotation and 1 % strain (:func:`~mdvib.analysis.tdep.reference.align_cell`).
    FitError
        In :meth:`run`: fewer than :data:`MIN_DATA_PER_PARAMETER` independent force
        components per free parameter (before fitting), or R² below :data:`FAILED_R2`
        without ``force``.
    """

    progress_label = "TDEP"
    progress_unit = "snapshot"
    needs_frame_spacing = False

    def __init__(self, reference: Reference, rc2: float, rc3: float | None = None, fit: str = "sequential",
                 cv_folds: int = 0, temperature_k: float | None = None, tolerance: float | None = None,
                 decorrelation_series: str = "displacements", remove_drift: bool = True, symprec: float = 1e-3,
                 invariances: Sequence[str] = (), progress: bool = False, force: bool = False):
        if rc2 <= 0:
            raise SettingsError(f"rc2 must be positive, got {rc2} Å")
        if rc3 is not None and rc3 <= 0:
            raise SettingsError(f"rc3 must be positive, got {rc3} Å")
        if fit not in FIT_MODES:
            raise SettingsError(f"unknown fit mode {fit!r}; choose one of {list(FIT_MODES)}")
        if cv_folds < 0 or cv_folds == 1:
            raise SettingsError(f"cv_folds must be 0 (none) or at least 2, got {cv_folds}")
        if temperature_k is not None and temperature_k < 0:
            raise SettingsError(f"temperature must be >= 0 K, got {temperature_k}")
        if tolerance is not None and tolerance <= 0:
            raise SettingsError(f"tolerance must be positive, got {tolerance} Å")
        if decorrelation_series not in DECORRELATION_SERIES:
            raise SettingsError(f"unknown decorrelation series {decorrelation_series!r}; "
                                f"choose one of {list(DECORRELATION_SERIES)}")
        self.reference = reference
        self.rc2 = float(rc2)
        self.rc3 = None if rc3 is None else float(rc3)
        self.fit = fit
        self.cv_folds = cv_folds
        self.temperature_k = temperature_k
        self.tolerance = tolerance
        self.decorrelation_series = decorrelation_series
        self.remove_drift = remove_drift
        self.symprec = symprec
        self.invariances = check_invariances(invariances)
        self.progress = progress
        self.force = bool(force)

    def _cutoff_warnings(self) -> list[str]:
        """Refuse cutoffs without pairs or an ill-defined FC3 basis; warnings for rc2 beyond half the cell."""
        return check_cutoffs(self.reference, self.rc2, self.rc3)

    def _check(self, trajectory: Trajectory) -> None:
        if not trajectory.info.has_forces:
            raise MissingDataError(f"{trajectory.path}: the trajectory has no forces; TDEP fits forces against "
                                   "displacements — dump them (LAMMPS: dump ... id type x y z fx fy fz)")
        ref = self.reference
        if trajectory.n_atoms != ref.n_atoms:
            raise TrajectoryFormatError(
                trajectory.path, f"the trajectory has {trajectory.n_atoms} atoms but the reference "
                f"{ref.path or 'structure'} has {ref.n_atoms}; give the ideal supercell the MD was run in")

    def _map_atoms(self, trajectory: Trajectory, selection: FrameSelection) -> AtomMap:
        """Pair trajectory atoms with reference sites using the first selected frame."""
        return map_first_frame(self.reference, trajectory, selection, self.tolerance)

    def _snapshots(self, trajectory: Trajectory, selection: FrameSelection, atom_map: AtomMap, batch: int):
        """Yield (u, f) of the selected frames in chunks of ``batch``: displacements Å, forces eV/Å, (n, N, 3)."""
        seen = 0
        for chunk in trajectory.iter_chunks(selection, chunk_frames=batch):
            file_frames = selection.start + selection.step * (seen + np.arange(chunk.n_frames))
            yield snapshot_displacements(self.reference, atom_map, chunk, trajectory.info.atom_ids, trajectory.path,
                                         file_frames, self.remove_drift)
            seen += chunk.n_frames

    def measure_decorrelation(self, trajectory: Trajectory, start: int = 0, stop: int | None = None) -> Decorrelation:
        """Integrated autocorrelation time of frames ``start:stop`` and the stride ⌈2 τ_int⌉ it implies.

        Raises
        ------
        MissingDataError, TrajectoryFormatError
            As :meth:`run`.
        SettingsError
            If there are too few frames to correlate.
        """
        self._check(trajectory)
        selection = trajectory.select(start, stop, 1)
        atom_map = self._map_atoms(trajectory, selection)
        return estimate_decorrelation(self._snapshots(trajectory, selection, atom_map, 64), selection.n_frames,
                                      self.reference.masses, self.decorrelation_series)

    # ------------------------------------------------------------------ lifecycle hooks
    def _pre_pass(self, trajectory: Trajectory, start: int, stop: int | None, step: int | str) -> int:
        """Check the trajectory; with ``step="auto"`` measure τ_int and return the stride ⌈2 τ_int⌉."""
        if isinstance(step, str) and step != "auto":
            raise SettingsError(f"step must be a positive integer or 'auto', got {step!r}")
        self._check(trajectory)
        self._messages = self._cutoff_warnings()
        self._decorrelation = None
        if step != "auto":
            return super()._pre_pass(trajectory, start, stop, step)
        decorrelation = self.measure_decorrelation(trajectory, start, stop)
        self._decorrelation = decorrelation
        if not decorrelation.converged:
            self._messages.append(
                f"the {decorrelation.series} stay correlated over the {decorrelation.window_frames} frames "
                f"examined (τ_int ≥ {decorrelation.tau_int_frames:.3g} frames): the trajectory is too short for "
                f"a reliable τ_int; the stride {decorrelation.stride} is a lower bound")
        return decorrelation.stride

    def _prepare(self, trajectory: Trajectory, selection: FrameSelection) -> None:
        ref = self.reference
        n_snap = selection.n_frames
        if self.cv_folds and n_snap < self.cv_folds:
            raise SettingsError(f"{self.cv_folds}-fold cross-validation needs at least {self.cv_folds} snapshots, "
                                f"got {n_snap}")
        self._atom_map = self._map_atoms(trajectory, selection)  # cells and atoms first: cheaper than the basis
        basis = build_basis(ref, self.rc2, self.rc3, self.symprec)
        self._free_basis = basis
        if self.invariances:
            self._pair_vectors = require_pair_vectors(ref, basis)
            basis = dataclasses.replace(basis, z2=invariant_null_space(basis, self._pair_vectors, self.invariances))
        else:
            self._pair_vectors = pair_vectors(ref, basis.symmetry, basis.fc2.clusters, self.rc2)
        self._basis = basis
        self._n_snapshots = n_snap
        self._check_determined(basis, n_snap)
        self.chunk_frames = max(1, min(64, _BATCH_BYTES // (8 * 3 * ref.n_atoms * max(basis.n_x, 1))))
        self._atom_ids = trajectory.info.atom_ids
        self._path = trajectory.path
        self._file_spacing_fs = trajectory.info.frame_spacing_fs

    def _check_determined(self, basis: ForceConstantBasis, n_snapshots: int) -> None:
        """Refuse fits with fewer than MIN_DATA_PER_PARAMETER independent force components per free parameter."""
        n_atoms = self.reference.n_atoms
        per_snapshot = 3 * n_atoms - (3 if self.remove_drift else 0)  # the mean force of each snapshot is removed
        n_free = sum(basis.n_free)
        components = per_snapshot * n_snapshots
        if components >= MIN_DATA_PER_PARAMETER * n_free:
            return
        needed = -(-MIN_DATA_PER_PARAMETER * n_free // per_snapshot)
        orders = f"FC2 {basis.n_free[0]}" + (f" + FC3 {basis.n_free[1]}" if basis.fc3 is not None else "")
        raise FitError(
            f"{n_snapshots} snapshot{'s' if n_snapshots != 1 else ''} of {n_atoms} atoms give {components} "
            f"independent force components ({per_snapshot} per snapshot"
            + (", 3N − 3 after removing the mean force" if self.remove_drift else "")
            + f") for {n_free} free parameters ({orders}): the fit is underdetermined or nearly so (R² would be "
            f"close to 1 whatever the forces); at least {MIN_DATA_PER_PARAMETER} components per parameter are "
            f"needed, i.e. at least {needed} snapshots: use more frames (a smaller --stride or a longer "
            "trajectory), smaller cutoffs or a larger supercell")

    def _new_accumulator(self, part: Part) -> list[_Normal]:
        """Normal equations of each cross-validation fold (one set without cross-validation)."""
        return [_Normal.zeros(self._basis.n_x) for _ in range(max(1, self.cv_folds))]

    def _accumulate(self, accumulator: list[_Normal], chunk: FrameChunk) -> None:
        file_frames = np.array([self.file_frame(chunk.first_frame + k) for k in range(chunk.n_frames)])
        u, f = snapshot_displacements(self.reference, self._atom_map, chunk, self._atom_ids, self._path,
                                      file_frames, self.remove_drift)
        a = self._basis.design(u)
        if not self.cv_folds:
            accumulator[0].add(a, f.ravel())
            return
        rows = 3 * self.reference.n_atoms
        for k in range(u.shape[0]):
            fold = (chunk.first_frame + k) * self.cv_folds // self._n_snapshots
            accumulator[fold].add(a[k * rows:(k + 1) * rows], f[k].ravel())

    def merge(self, first: list[_Normal], second: list[_Normal]) -> list[_Normal]:
        """Sum the normal equations fold by fold."""
        return [a + b for a, b in zip(first, second)]

    def settings(self) -> dict:
        """Settings recorded in the result's provenance."""
        return {"rc2": self.rc2, "rc3": self.rc3, "fit": self.fit, "cv_folds": self.cv_folds,
                "temperature_k": self.temperature_k, "tolerance": self.tolerance,
                "decorrelation_series": self.decorrelation_series,
                "remove_drift": self.remove_drift, "symprec": self.symprec,
                "invariances": list(self.invariances), "reference": self.reference.path, "force": self.force}

    def _extra_inputs(self) -> tuple[str, ...]:
        return (self.reference.path,) if self.reference.path else ()

    def _conclude(self, folds: list[_Normal], provenance: Provenance) -> TDEPResult:
        basis, messages = self._basis, self._messages
        total = reduce(operator.add, folds) if self.cv_folds else folds[0]
        x = solve_normal(total, basis, self.fit)
        n2 = basis.fc2.n_parameters
        ss = total.residual(x)
        ss_harm = total.residual(np.concatenate([x[:n2], np.zeros(basis.n_x - n2)]))
        ff = max(total.ff, np.finfo(float).tiny)
        r2 = 1.0 - ss / ff
        causes = ("Are they pure potential forces (LAMMPS fix langevin adds its random and friction forces into f)? "
                  "Does the reference match the MD cell? Has the system diffused or melted?")
        if r2 < FAILED_R2 and not self.force:
            raise FitError(
                f"{self._path}: the fit failed: R² = {r2:.3f} is below {FAILED_R2:g}, the forces are not described "
                f"by force constants. {causes} Are the forces in eV/Å and the positions in Å (units)? To keep the "
                "fit anyway, pass force=True (mdvib tdep --force)")
        if r2 < LOW_R2:
            messages.append(f"R² = {r2:.3f} is low: the forces are not described by force constants. {causes}"
                            + (f" (below {FAILED_R2:g}: kept because it was forced)" if r2 < FAILED_R2 else ""))
        for text in messages:
            warnings.warn(text, TDEPWarning, stacklevel=4)
        cv_rmse = None
        if self.cv_folds:
            cv_ss = sum(fold.residual(solve_normal(total - fold, basis, self.fit)) for fold in folds)
            cv_rmse = float(np.sqrt(cv_ss / total.rows))
        diagnostics = {"r2": float(r2), "rmse": float(np.sqrt(ss / total.rows)),
                       "r2_harmonic": float(1.0 - ss_harm / ff), "anharmonicity": float(np.sqrt(ss_harm / ff)),
                       "force_rms": float(np.sqrt(total.ff / total.rows)), "cv_rmse": cv_rmse,
                       "cv_folds": self.cv_folds or None}
        return self._result(x, total, diagnostics, provenance)

    def _rotational_violations(self, x: np.ndarray, total: _Normal) -> dict:
        """Relative Born–Huang/Huang violations of the fit (and of the unconstrained fit when some are imposed)."""
        basis, vectors = self._basis, self._pair_vectors
        if vectors is None:
            return {"rotational_violation": None, "rotational_violation_unconstrained": None}
        n2 = basis.fc2.n_parameters
        free = None
        if self.invariances:
            x_free = solve_normal(total, self._free_basis, self.fit)
            free = violations(basis.fc2.clusters, basis.fc2.tensors(x_free[:n2]), vectors)
        return {"rotational_violation": violations(basis.fc2.clusters, basis.fc2.tensors(x[:n2]), vectors),
                "rotational_violation_unconstrained": free}

    def _result(self, x: np.ndarray, total: _Normal, diagnostics: dict, provenance: Provenance) -> TDEPResult:
        ref, basis, decorrelation = self.reference, self._basis, self._decorrelation
        n2 = basis.fc2.n_parameters
        fc3 = basis.fc3
        spacing = self._file_spacing_fs
        return TDEPResult(
            species=tuple(ref.species),
            masses=np.asarray(ref.masses, float),
            reference_cell=np.asarray(ref.cell, float),
            reference_positions=np.asarray(ref.positions, float),
            p2s=basis.symmetry.p2s,
            translations=basis.symmetry.translations,
            fc2_atoms=basis.fc2.clusters,
            fc2_tensors=basis.fc2.tensors(x[:n2]),
            rc2=self.rc2,
            fit_mode=self.fit if fc3 is not None else "fc2",
            n_parameters_fc2=basis.n_free[0],
            n_parameters_fc3=basis.n_free[1],
            n_snapshots=self._n_snapshots,
            spacegroup=basis.symmetry.spacegroup,
            atom_mapping=self._atom_map.method,
            fc3_atoms=None if fc3 is None else fc3.clusters,
            fc3_tensors=None if fc3 is None else fc3.tensors(x[n2:]),
            rc3=self.rc3,
            temperature_k=self.temperature_k,
            stride=self._selection.step,
            tau_int_frames=None if decorrelation is None else decorrelation.tau_int_frames,
            tau_int_fs=None if decorrelation is None else decorrelation.tau_int_frames * (
                float("nan") if spacing is None else spacing),
            decorrelation_series=None if decorrelation is None else decorrelation.series,
            invariances=self.invariances or None,
            warnings=tuple(self._messages),
            provenance=provenance,
            **diagnostics,
            **self._rotational_violations(x, total),
        )
