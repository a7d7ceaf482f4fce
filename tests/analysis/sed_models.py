"""Langevin harmonic chains for the SED tests: an analytic model, not an MD engine mdvib uses.

A periodic chain of N atoms (spacing a along x, mass m) with scalar nearest-
neighbour springs V = (K/2) Σ_l |u_{l+1} − u_l|² (every Cartesian component
is its own chain), integrated with BAOAB Langevin dynamics at friction γ.
Each normal mode is a damped oscillator of frequency ω(q) = 2√(K/m)|sin(qa/2)|
whose velocity spectrum has FWHM exactly γ in angular frequency; equipartition
gives k_BT/2 of kinetic energy per mode.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from mdvib.units import AMU_A2_PER_FS2_IN_EV, KB_EV_PER_K


@njit(cache=True)
def _baoab(u, v, n_steps, stride, dt, k_over_m, gamma, sigma, seed, out_u, out_v):  # pragma: no cover - numba
    np.random.seed(seed)
    n = u.shape[0]
    c1 = np.exp(-gamma * dt)
    c2 = np.sqrt(1.0 - c1 * c1) * sigma
    force = np.empty_like(u)

    def forces(u, force):
        for i in range(n):
            left = (i - 1) % n
            right = (i + 1) % n
            for a in range(3):
                force[i, a] = k_over_m * (u[left, a] + u[right, a] - 2.0 * u[i, a])

    forces(u, force)
    frame = 0
    for step in range(n_steps):
        if step % stride == 0:
            out_u[frame] = u
            out_v[frame] = v
            frame += 1
        v += 0.5 * dt * force
        u += 0.5 * dt * v
        for i in range(n):
            for a in range(3):
                v[i, a] = c1 * v[i, a] + c2 * np.random.normal()
        u += 0.5 * dt * v
        forces(u, force)
        v += 0.5 * dt * force


def langevin_chain(n_atoms: int = 16, spacing: float = 2.5, spring_ev_a2: float = 5.0, mass: float = 28.0855,
                   gamma_per_ps: float = 1.0, temperature_k: float = 300.0, n_frames: int = 65536,
                   stride: int = 5, dt_fs: float = 2.0, seed: int = 1):
    """Positions and velocities (Å, Å/fs) of a Langevin harmonic chain, every ``stride`` steps.

    Returns
    -------
    positions, velocities : ndarray, shape (n_frames, n_atoms, 3)
    cell : ndarray, shape (3, 3)
        Chain along x, 12 Å of vacuum across. Positions have the centre-of-mass
        displacement removed (the q = 0 mode diffuses freely).
    omega_max_rad_per_fs : float
        2√(K/m).
    """
    rng = np.random.default_rng(seed)
    k_over_m = spring_ev_a2 / mass / AMU_A2_PER_FS2_IN_EV  # fs⁻²
    sigma = np.sqrt(KB_EV_PER_K * temperature_k / mass / AMU_A2_PER_FS2_IN_EV)  # Å/fs
    u = np.zeros((n_atoms, 3))
    v = rng.normal(0.0, sigma, (n_atoms, 3))
    gamma = gamma_per_ps * 1e-3
    burn_u, burn_v = np.empty((1, n_atoms, 3)), np.empty((1, n_atoms, 3))
    _baoab(u, v, int(20.0 / gamma / dt_fs), 10**9, dt_fs, k_over_m, gamma, sigma, seed, burn_u, burn_v)
    out_u, out_v = np.empty((n_frames, n_atoms, 3)), np.empty((n_frames, n_atoms, 3))
    _baoab(u, v, n_frames * stride, stride, dt_fs, k_over_m, gamma, sigma, seed + 1, out_u, out_v)
    sites = np.zeros((n_atoms, 3))
    sites[:, 0] = spacing * np.arange(n_atoms)
    cell = np.diag([spacing * n_atoms, 12.0, 12.0])
    out_u -= out_u.mean(axis=1, keepdims=True)  # the q = 0 mode diffuses; positions only serve to map the atoms
    return sites[None] + out_u, out_v, cell, 2.0 * np.sqrt(k_over_m)
