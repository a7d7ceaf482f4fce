"""Kernels of the spectral energy density: the lattice sum Σ_l v(l, b, t) e^{iq·R_l}.

Why hand-written: dynasor transforms every atom's whole velocity history in
time first and needs the trajectory in memory; mdvib projects each chunk of
frames onto the requested q as it streams (memory O(n_q · n_basis · window)),
so the projection is the one per-frame operation over all atoms.

:func:`project_velocities` is the numba kernel (parallel over q, one pass over
the atoms per frame, phases precomputed as cos/sin tables);
:func:`project_velocities_numpy` is the NumPy reference it is tested against
(two real matrix products per basis atom).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True, fastmath=True)
def _project(velocities, cos_table, sin_table, basis_index, n_basis, out):  # pragma: no cover - numba
    n_frames, n_atoms, _ = velocities.shape
    n_q = cos_table.shape[0]
    for q in prange(n_q):
        for f in range(n_frames):
            re = np.zeros((n_basis, 3))
            im = np.zeros((n_basis, 3))
            for i in range(n_atoms):
                c = cos_table[q, i]
                s = sin_table[q, i]
                b = basis_index[i]
                for a in range(3):
                    v = velocities[f, i, a]
                    re[b, a] += c * v
                    im[b, a] += s * v
            for b in range(n_basis):
                for a in range(3):
                    out[f, q, b, a] = re[b, a] + 1j * im[b, a]


def phase_tables(phases: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous cos and sin tables of ``phases`` (n_q, n_atoms), made once per analysis, not per chunk."""
    return np.ascontiguousarray(phases.real, dtype=np.float64), np.ascontiguousarray(phases.imag, dtype=np.float64)


def project_velocities(velocities: np.ndarray, phases: np.ndarray, basis_index: np.ndarray,
                       n_basis: int, tables: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Lattice sums X(t, q, b, α) = Σ_{atoms i of basis b} e^{iq·R_i} v_α(i, t).

    Parameters
    ----------
    velocities : ndarray, shape (n_frames, n_atoms, 3), float64
        Velocities (any unit; the result has the same), atoms in reference order.
    phases : ndarray, shape (n_q, n_atoms), complex128
        e^{iq·R_i} of each atom's lattice point.
    basis_index : ndarray, shape (n_atoms,), int64
        Basis atom of each atom.
    n_basis : int
        Number of basis atoms.
    tables : tuple of ndarray, optional
        :func:`phase_tables` of ``phases``, when the caller keeps them between chunks.

    Returns
    -------
    ndarray, shape (n_frames, n_q, n_basis, 3), complex128
    """
    velocities = np.ascontiguousarray(velocities, dtype=np.float64)
    cos_table, sin_table = tables if tables is not None else phase_tables(phases)
    out = np.empty((velocities.shape[0], phases.shape[0], n_basis, 3), dtype=np.complex128)
    _project(velocities, cos_table, sin_table, np.ascontiguousarray(basis_index, dtype=np.int64), n_basis, out)
    return out


def project_velocities_numpy(velocities: np.ndarray, phases: np.ndarray, basis_index: np.ndarray,
                             n_basis: int) -> np.ndarray:
    """NumPy reference of :func:`project_velocities` (same arguments and result)."""
    n_frames = velocities.shape[0]
    out = np.empty((n_frames, phases.shape[0], n_basis, 3), dtype=np.complex128)
    for b in range(n_basis):
        sites = np.flatnonzero(basis_index == b)
        v = velocities[:, sites, :].transpose(1, 0, 2).reshape(sites.size, -1)  # (n_cells, frames·3)
        real = phases[:, sites].real @ v
        imag = phases[:, sites].imag @ v
        out[:, :, b, :] = (real + 1j * imag).reshape(-1, n_frames, 3).transpose(1, 0, 2)
    return out
