"""examples.vae: the ELBO and the importance-weighted bound against exact
integrals over z, the baseline by brute force, training on generated bars
(no scikit-learn needed), the program itself on the digits, and the
published target (slow)."""

import itertools
import math
import re

import numpy as np
import pytest

import minigrad as mg
from examples import vae

PATTERNS = np.array(list(itertools.product([0.0, 1.0], repeat=3)))  # every image of 3 binary pixels


def tiny_vae(seed: int) -> vae.VAE:
    """3 pixels, a 1-D latent (so integrals over z are exact on a grid), float64,
    the decoder's weights scaled up so that p(x|z) really depends on z."""
    mg.manual_seed(seed)
    model = vae.VAE(3, 5, 1).to(np.float64)
    with mg.no_grad():
        for p in model.decoder.parameters():
            p.data *= 3
    return model


def log_sigmoid(x):
    return -np.logaddexp(0, -x)


def on_grid(model: vae.VAE):
    """z on a fine grid over [-12, 12], its spacing and ln p(x|z) (patterns x grid)."""
    z = np.linspace(-12, 12, 48001)
    with mg.no_grad():
        logits = model.decoder(z[:, None]).data
    log_px_z = PATTERNS @ log_sigmoid(logits).T + (1 - PATTERNS) @ log_sigmoid(-logits).T
    return z, z[1] - z[0], log_px_z


def exact(model: vae.VAE) -> tuple[np.ndarray, np.ndarray]:
    """(ln p(x), ELBO(x)) per pattern by quadrature: ln ∫ p(z) p(x|z) dz and
    ∫ q(z|x) ln p(x|z) dz − KL(q ‖ p) with the Gaussian KL written out."""
    z, dz, log_px_z = on_grid(model)
    log_prior = -0.5 * z ** 2 - 0.5 * math.log(2 * math.pi)
    joint = log_px_z + log_prior
    top = joint.max(axis=1, keepdims=True)
    log_px = (top + np.log(np.exp(joint - top).sum(axis=1, keepdims=True) * dz))[:, 0]
    with mg.no_grad():
        mu, logvar = (t.data[:, 0] for t in model.encode(PATTERNS))
    var = np.exp(logvar)
    assert (np.abs(mu) + 8 * np.sqrt(var) < z[-1]).all()  # the grid holds q(z|x) whole
    q = np.exp(-0.5 * (z - mu[:, None]) ** 2 / var[:, None]) / np.sqrt(2 * math.pi * var[:, None])
    kl = 0.5 * (mu ** 2 + var - logvar - 1)
    return log_px, (q * log_px_z).sum(axis=1) * dz - kl


@pytest.mark.parametrize("seed", [0, 1])
def test_bounds_match_exact_integrals_over_z(seed):
    model = tiny_vae(seed)
    log_px, exact_elbo = exact(model)
    assert np.exp(log_px).sum() == pytest.approx(1, abs=1e-9)  # the quadrature itself: p(x) sums to 1
    assert (exact_elbo < log_px).all()
    for x, want_px, want_elbo in zip(PATTERNS, log_px, exact_elbo):
        elbo, bound = vae.held_out_bounds(model, x[None], samples=60_000, chunk=1)
        assert elbo == pytest.approx(want_elbo, abs=0.08)  # ~5 standard errors
        assert bound == pytest.approx(want_px, abs=0.02)  # 60000 samples close the gap in one dimension
        assert elbo < bound
    few = [vae.held_out_bounds(model, PATTERNS, samples=5, seed=k)[1] for k in range(200)]
    assert exact_elbo.mean() < np.mean(few) < log_px.mean()  # with few samples the bound lies in between


def test_training_objective_is_an_unbiased_elbo_estimate_with_the_kl_weighted_by_beta():
    model = tiny_vae(0)
    _, exact_elbo = exact(model)
    draws = 40_000
    with mg.no_grad():
        estimate = vae.elbo(model, np.repeat(PATTERNS, draws, axis=0)).data.reshape(len(PATTERNS), draws).mean(1)
        assert estimate == pytest.approx(exact_elbo, abs=0.05)
        mu, logvar = (t.data[:, 0] for t in model.encode(PATTERNS))
        mg.manual_seed(3)
        full = vae.elbo(model, PATTERNS).data
        mg.manual_seed(3)  # the same ε: only the KL's weight differs
        warm = vae.elbo(model, PATTERNS, beta=0.25).data
    assert full - warm == pytest.approx(-0.75 * 0.5 * (mu ** 2 + np.exp(logvar) - logvar - 1), abs=1e-12)


def test_independent_pixels_by_brute_force():
    rng = np.random.default_rng(0)
    train, test = (rng.random((9, 5)) < 0.3).astype(float), (rng.random((4, 5)) < 0.3).astype(float)
    p = [(train[:, j].sum() + 1) / (len(train) + 2) for j in range(5)]
    want = np.mean([sum(math.log(p[j] if x[j] else 1 - p[j]) for j in range(5)) for x in test])
    assert vae.independent_pixels(train, test) == pytest.approx(want, rel=1e-12)


def bars(n: int, rng: np.random.Generator, flip: float = 0.02) -> np.ndarray:
    """8x8 images of one full row or one full column (16 patterns), each pixel flipped with probability ``flip``."""
    images = np.zeros((n, 8, 8), np.float32)
    for image, which in zip(images, rng.integers(0, 16, n)):
        if which < 8:
            image[which, :] = 1
        else:
            image[:, which - 8] = 1
    return np.abs(images.reshape(n, 64) - (rng.random((n, 64)) < flip)).astype(np.float32)


def test_training_on_bars_beats_independent_pixels():
    """Measured: validation ELBO -18.2 (seeds 0, 1) against -26.1 for independent pixels
    (the data's own entropy is ln 16 + 64·H(0.02) = 9.1 nats)."""
    rng = np.random.default_rng(0)
    train, validation = bars(400, rng), bars(200, rng)
    mg.manual_seed(0)
    model = vae.VAE(64, 64, 2)
    curve, best = vae.train(model, train, validation, epochs=60, batch_size=50, lr=3e-3, warmup=5, rng=rng)
    assert len(curve) == 60 and best > 5
    elbo, bound = vae.held_out_bounds(model, validation, samples=100)
    assert elbo == pytest.approx(curve[best - 1][1], abs=0.5)  # the model kept is the best epoch's
    assert vae.independent_pixels(train, validation) + 6 < elbo < bound < -9.1


def test_split_is_fixed_and_disjoint():
    images, labels = np.arange(1797 * 2).reshape(1797, 2), np.arange(1797)
    mg.manual_seed(5)
    first = vae.split(images, labels)
    mg.manual_seed(6)
    again = vae.split(images, labels)
    sizes = {name: len(part[1]) for name, part in first.items()}
    assert sizes == {"train": 1297, "validation": 200, "test": 300}
    assert sorted(np.concatenate([part[1] for part in first.values()]).tolist()) == list(range(1797))
    assert all((first[k][0] == again[k][0]).all() for k in first)
    assert (first["test"][0][:, 0] == 2 * first["test"][1]).all()  # images stay with their labels


def test_mosaic_places_images_row_by_row():
    out = vae.mosaic(np.arange(3 * 64).reshape(3, 64) / 1000, columns=2)
    assert out.shape == (19, 19) and out[0, 0] == 0.2
    assert (out[1:9, 1:9] == np.arange(64).reshape(8, 8) / 1000).all()
    assert (out[1:9, 10:18] == np.arange(64, 128).reshape(8, 8) / 1000).all()
    assert (out[10:18, 1:9] == np.arange(128, 192).reshape(8, 8) / 1000).all() and (out[10:18, 10:18] == 0.2).all()


def test_without_scikit_learn_the_program_says_what_to_install(monkeypatch, capsys):
    def missing():
        raise ImportError("No module named 'sklearn'")

    monkeypatch.setattr(vae, "load_digits", missing)
    assert vae.main(["--plot", ""]) == 2
    assert "pip install" in capsys.readouterr().err


def test_help_describes_the_elbo(capsys):
    with pytest.raises(SystemExit) as exit_:
        vae.main(["--help"])
    assert exit_.value.code == 0 and "ELBO" in capsys.readouterr().out


def test_digits_are_binarized_8x8_images():
    pytest.importorskip("sklearn")
    images, labels = vae.load_digits()
    assert images.shape == (1797, 64) and set(np.unique(images)) == {0.0, 1.0} and set(labels) == set(range(10))
    assert 0.25 < images.mean() < 0.4


def test_a_short_run_on_the_digits(tmp_path, capsys):
    pytest.importorskip("sklearn")
    plot = ["--plot", str(tmp_path / "vae.png")] if _has("matplotlib") else ["--plot", ""]
    assert vae.main(["--epochs", "8", "--warmup", "2", "--samples", "50", "--latent", "3", *plot]) == 0
    out = capsys.readouterr().out
    elbo, bound, pixels = map(float, re.search(r"held-out ELBO ([0-9.-]+) .* bound \(50 samples\) ([0-9.-]+); "
                                               r"independent pixels ([0-9.-]+)", out).groups())
    assert pixels < elbo < bound < 0
    assert re.search(r"best validation ELBO [0-9.-]+ nats at epoch [3-8]\b", out)
    if _has("matplotlib"):
        assert (tmp_path / "vae.png").stat().st_size > 10_000


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


@pytest.mark.slow
def test_default_run_reaches_its_held_out_elbo(tmp_path, monkeypatch, capsys):
    pytest.importorskip("sklearn")
    monkeypatch.chdir(tmp_path)
    assert vae.main([]) == 0
    out = capsys.readouterr().out
    elbo, bound = map(float, re.search(r"held-out ELBO ([0-9.-]+) .* bound \(500 samples\) ([0-9.-]+)", out).groups())
    assert -19.0 <= elbo < bound, (elbo, bound)
    assert (tmp_path / "vae.png").exists()
