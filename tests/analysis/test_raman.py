"""Raman spectra from the polarizability autocorrelation: Placzek limit, absolute cross section, bad input, CLI."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.constants as sc

from mdvib.analysis.raman import PolarizabilitySeries, RamanAnalysis, invariant_series
from mdvib.errors import SettingsError
from mdvib.results import load_result
from mdvib.trajectory import Trajectory
from mdvib.units import AMU_A2_PER_FS2_IN_EV, KB_EV_PER_K, THZ_TO_INV_CM

T = 300.0
KT = KB_EV_PER_K * T / AMU_A2_PER_FS2_IN_EV  # amu Å²/fs²
STATIC = np.array([[2.0, 0.1, 0.0], [0.1, 1.5, 0.0], [0.0, 0.0, 1.0]])  # Å³, removed with the mean

#: Derivative tensors ∂α/∂Q (Å³ per Å amu^½): purely isotropic, purely anisotropic (traceless), general.
DERIVATIVES = {
    "isotropic": np.eye(3) * 0.5,
    "anisotropic": np.array([[1.0, 0.2, 0.0], [0.2, -0.5, 0.0], [0.0, 0.0, -0.5]]),
    "mixed": np.array([[0.8, 0.3, 0.0], [0.3, 0.1, 0.2], [0.0, 0.2, -0.4]]),
}


def invariants(d: np.ndarray) -> tuple[float, float]:
    """Placzek invariants a′ = Tr/3 and γ′² of a symmetric tensor."""
    g2 = 0.5 * ((d[0, 0] - d[1, 1]) ** 2 + (d[1, 1] - d[2, 2]) ** 2 + (d[2, 2] - d[0, 0]) ** 2)
    g2 += 3.0 * (d[0, 1] ** 2 + d[1, 2] ** 2 + d[0, 2] ** 2)
    return np.trace(d) / 3.0, g2


def oscillator(nu_cm: float, n_frames: int, dt_fs: float, derivative: np.ndarray) -> np.ndarray:
    """α(t) = α₀ + (∂α/∂Q) Q(t) for one harmonic mode with ⟨Q̇²⟩ = k_BT, shape (n, 3, 3)."""
    omega = 2 * np.pi * nu_cm / THZ_TO_INV_CM * 1e-3
    q = np.sqrt(2 * KT) / omega * np.cos(omega * np.arange(n_frames) * dt_fs + 0.2)
    return STATIC[None] + q[:, None, None] * derivative[None]


def trajectory(n_frames: int, dt_fs: float) -> Trajectory:
    return Trajectory.from_arrays(np.zeros((n_frames, 1, 3)), ["O"], dt_fs)


@pytest.mark.parametrize("kind", sorted(DERIVATIVES))
def test_placzek_limit_of_a_harmonic_mode(kind):
    """Band integrals (45a′² + 4γ′²)/45, 3γ′²/45, (45a′² + 7γ′²)/45 times ⟨Q²⟩ = k_BT/ω², ρ = 3γ′²/(45a′² + 4γ′²)."""
    nu_cm, n, dt = 1000.0, 20000, 1.0
    result = RamanAnalysis(PolarizabilitySeries(oscillator(nu_cm, n, dt, DERIVATIVES[kind])), T, window=2000).run(
        trajectory(n, dt))
    assert result.peaks() == pytest.approx([nu_cm], abs=result.wavenumbers_cm[1])
    a, g2 = invariants(DERIVATIVES[kind])
    q2 = KT / (2 * np.pi * nu_cm / THZ_TO_INV_CM * 1e-3) ** 2
    band = result.band(800, 1200)
    assert band["vv"] == pytest.approx((a**2 + 4 * g2 / 45) * q2, rel=0.01)
    assert band["vh"] == pytest.approx(3 * g2 / 45 * q2, rel=0.01, abs=1e-9 * q2)
    assert band["unpolarised"] == pytest.approx((a**2 + 7 * g2 / 45) * q2, rel=0.01)
    assert band["depolarisation"] == pytest.approx(3 * g2 / (45 * a**2 + 4 * g2), abs=1e-6)
    if kind == "anisotropic":
        assert band["depolarisation"] == pytest.approx(0.75, abs=1e-9)
        line = result.vv > 1e-3 * result.vv.max()
        np.testing.assert_allclose(result.depolarisation[line], 0.75, atol=1e-9)


def test_absolute_cross_section_matches_the_textbook_formula():
    """∫ dσ/dΩ over the band = h(ν̃_L − ν̃₀)⁴/(8cε₀²ν̃₀) · (45a′² + 7γ′²)/45 / (1 − e^{−hcν̃₀/k_BT}) (SI a′, γ′)."""
    nu_cm, n, dt, laser_nm = 1000.0, 20000, 1.0, 785.0
    d = DERIVATIVES["mixed"]
    result = RamanAnalysis(PolarizabilitySeries(oscillator(nu_cm, n, dt, d)), T, laser_nm=laser_nm,
                           window=2000).run(trajectory(n, dt))
    a, g2 = invariants(d)
    per_unit = 4 * np.pi * sc.epsilon_0 * 1e-30 / (1e-10 * np.sqrt(sc.atomic_mass))  # Å³/(Å amu^½) → SI
    laser, shift = 1e9 / laser_nm, nu_cm * 100.0  # m⁻¹
    x = sc.h * sc.c * shift / (sc.k * T)
    expected = (sc.h * (laser - shift) ** 4 / (8 * sc.c * sc.epsilon_0**2 * shift) * (a**2 + 7 * g2 / 45)
                * per_unit**2 / -np.expm1(-x)) * 1e4  # cm²/sr
    assert result.band(800, 1200)["cross_section"] == pytest.approx(expected, rel=0.01)
    classical = RamanAnalysis(PolarizabilitySeries(oscillator(nu_cm, n, dt, d)), T, laser_nm=laser_nm,
                              window=2000, quantum_correction="none").run(trajectory(n, dt))
    assert (result.band(800, 1200)["cross_section"] / classical.band(800, 1200)["cross_section"]
            == pytest.approx(x / -np.expm1(-x), rel=0.01))


def test_invariants_of_a_static_tensor():
    """The seven series reproduce a′ and γ′² of a tensor by the weights the analyser uses."""
    d = DERIVATIVES["mixed"] + np.array([[0, 0.1, 0], [-0.1, 0, 0], [0, 0, 0]])  # an antisymmetric part is dropped
    s = invariant_series(d[None])[0]
    a, g2 = invariants(DERIVATIVES["mixed"])
    assert s[0] == pytest.approx(a)
    assert 0.5 * np.sum(s[1:4] ** 2) + 3 * np.sum(s[4:] ** 2) == pytest.approx(g2)


def test_series_length_must_match_frames():
    series = PolarizabilitySeries(np.zeros((50, 3, 3)), "polarizability.out")
    with pytest.raises(SettingsError, match="polarizability series has 50 rows but <memory> has 80 frames"):
        RamanAnalysis(series, T, window=10).run(trajectory(80, 1.0))


def test_bad_input():
    with pytest.raises(SettingsError, match=r"shape \(n_frames >= 2, 3, 3\)"):
        PolarizabilitySeries(np.zeros((10, 6)))
    with pytest.raises(SettingsError, match="needs the temperature"):
        RamanAnalysis(PolarizabilitySeries(np.zeros((10, 3, 3))), -1.0)
    with pytest.raises(SettingsError, match="laser wavelength must be positive"):
        RamanAnalysis(PolarizabilitySeries(np.zeros((10, 3, 3))), T, laser_nm=0)
    with pytest.raises(SettingsError, match="not finite"):
        PolarizabilitySeries(np.full((10, 3, 3), np.nan))


def test_cli_reads_gpumd_polarizability_out(tmp_path):
    from mdvib.cli.main import main

    n, dt = 2000, 1.0
    alpha = oscillator(1200.0, n, dt, DERIVATIVES["anisotropic"])
    path = tmp_path / "polarizability.out"  # GPUMD: step xx yy zz xy yz zx
    rows = [f"{k} {a[0, 0]} {a[1, 1]} {a[2, 2]} {a[0, 1]} {a[1, 2]} {a[0, 2]}\n" for k, a in enumerate(alpha)]
    path.write_text("# step pol_xx pol_yy pol_zz pol_xy pol_yz pol_zx\n" + "".join(rows))
    traj = tmp_path / "run.xyz"
    traj.write_text("".join(f'1\nLattice="10 0 0 0 10 0 0 0 10" Properties=species:S:1:pos:R:3 Time={k * dt}\n'
                            "O 0 0 0\n" for k in range(n)))
    out = tmp_path / "raman.h5"
    assert main(["raman", str(traj), "--polarizabilities", str(path), "--temperature", "300", "--window", "400",
                 "-o", str(out), "--plot", str(tmp_path / "raman.png"), "--quiet"]) == 0
    assert (tmp_path / "raman.png").stat().st_size > 0
    assert load_result(out).band(1000, 1400)["depolarisation"] == pytest.approx(0.75, abs=1e-6)
    assert main(["raman", str(traj), "--polarizabilities", str(path), "--temperature", "300", "--window", "400",
                 "-o", str(tmp_path / "raman.csv"), "--quiet"]) == 0
    assert (tmp_path / "raman.csv").read_text().startswith("shift_cm-1,frequency_THz,isotropic_A6/THz")
    assert main(["raman", str(traj), "--polarizabilities", str(tmp_path / "none.out"), "--temperature", "300",
                 "-o", str(out)]) == 1
