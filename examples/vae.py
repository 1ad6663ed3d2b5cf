"""A variational autoencoder (Kingma & Welling, 2014) on the 8x8 handwritten
digits that ship with scikit-learn (1,797 images, no download), binarized.

    python -m examples.vae                      # train; held-out ELBO in nats; vae.png
    python -m examples.vae --latent 2           # a 2-D z: the latent plot is z itself (and a looser ELBO)

The encoder maps an image x to a Gaussian q(z|x) = N(μ(x), diag e^v(x)); the
decoder maps a latent z to 64 Bernoulli pixel probabilities p(x|z) = σ(f(z));
the prior is p(z) = N(0, I). Training maximises the evidence lower bound

    ELBO(x) = E_q[ln p(x|z)] − KL(q(z|x) ‖ p(z)) ≤ ln p(x),

the expectation estimated with one sample drawn by the reparameterisation
trick, z = μ + e^(v/2)·ε with ε ~ N(0, I), so that the sample is a
differentiable function of μ and v; the KL of two Gaussians is exact
(nn.functional.kl_normal).

Pixels are binarized at half intensity (value ≥ 8 of 16), so ln p(x) is a
proper log-probability of 64 bits: 64·ln 2 = 44.4 nats is a coin per pixel.
The held-out numbers, in nats per image, are the ELBO (averaged over many
samples of z) and the importance-weighted bound ln (1/S) Σ_s p(x, z_s)/q(z_s|x)
(Burda et al., 2016), tighter and closer to ln p(x) as S grows; beside them,
the log-likelihood of independent pixels (each with its training frequency).
The split (1,297 train, 200 validation, 300 test) is the same for every
seed; the model kept is the epoch with the best validation ELBO, and the
learning rate is halved when that stalls (nn.optim.ReduceLROnPlateau).
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import time

import numpy as np

import minigrad as mg
import nn
from examples.common import check_plot, figure, non_negative_int, positive_float, positive_int, progress, train_step

SIDE = 8
SPLIT_SEED = 1234  # the split does not move with --seed
TEST, VALIDATION = 300, 200


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """(images (1797, 64) in {0, 1} as float32, labels (1797,)): scikit-learn's
    digits (values 0-16) binarized at 8."""
    from sklearn.datasets import load_digits as sklearn_digits  # the ``examples`` extra
    digits = sklearn_digits()
    return (digits.data >= 8).astype(np.float32), digits.target


def split(images: np.ndarray, labels: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A fixed random split into train / validation / test."""
    order = np.random.default_rng(SPLIT_SEED).permutation(len(images))
    parts = {"test": order[:TEST], "validation": order[TEST:TEST + VALIDATION], "train": order[TEST + VALIDATION:]}
    return {name: (images[rows], labels[rows]) for name, rows in parts.items()}


class VAE(nn.Module):
    """Encoder x → (μ, v) and decoder z → pixel logits, each a one-hidden-layer MLP."""

    def __init__(self, pixels: int, hidden: int, latent: int):
        super().__init__()
        self.latent = latent
        self.encoder = nn.Sequential(nn.Linear(pixels, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent))
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, pixels))

    def encode(self, x) -> tuple[mg.Tensor, mg.Tensor]:
        """The mean μ and log-variance v of q(z|x), each (N, latent)."""
        out = self.encoder(x)
        return out[:, :self.latent], out[:, self.latent:]

    def forward(self, x, rng: np.random.Generator | None = None) -> tuple[mg.Tensor, mg.Tensor, mg.Tensor, mg.Tensor]:
        """One reparameterised sample z = μ + e^(v/2)·ε per image: (pixel logits, μ, v, ε)."""
        mu, logvar = self.encode(x)
        eps = mg.randn_like(mu, rng=rng)
        return self.decoder(mu + mg.exp(0.5 * logvar) * eps), mu, logvar, eps


def log_likelihood(logits: mg.Tensor, x) -> mg.Tensor:
    """ln p(x|z) per image: the Bernoulli log-probability of the pixels, summed."""
    return -nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(axis=-1)


def elbo(model: VAE, x, beta: float = 1.0) -> mg.Tensor:
    """Per image ln p(x|z) − β·KL(q(z|x) ‖ N(0, I)) with one sample of z: an
    unbiased estimate of the ELBO at β = 1 (β < 1 while the KL warms up)."""
    logits, mu, logvar, _ = model(x)
    kl = nn.functional.kl_normal(mu, logvar, reduction="none").sum(axis=-1)
    return log_likelihood(logits, x) - beta * kl


def held_out_bounds(model: VAE, x: np.ndarray, samples: int, seed: int = 0, chunk: int = 20) -> tuple[float, float]:
    """(ELBO, importance-weighted bound), in nats per image, each from ``samples``
    draws of z per image (a fixed generator: the same model gives the same numbers).
    With log weights ln w_s = ln p(x|z_s) + ln p(z_s) − ln q(z_s|x)
    = ln p(x|z_s) − ½|z_s|² + ½|ε_s|² + ½Σv: ELBO = E[ln w], bound = ln mean_s w_s."""
    rng = np.random.default_rng(seed)
    elbos, bounds = [], []
    model.eval()
    with mg.no_grad():
        for start in range(0, len(x), chunk):
            batch = np.repeat(x[start:start + chunk], samples, axis=0)  # each image `samples` times in a row
            logits, mu, logvar, eps = model(batch, rng=rng)
            z = mu.data + np.exp(0.5 * logvar.data) * eps.data
            log_w = (log_likelihood(logits, batch).data.astype(np.float64)
                     + 0.5 * ((eps.data ** 2) - z ** 2 + logvar.data).sum(axis=-1)).reshape(-1, samples)
            elbos.append(log_w.mean(axis=1))
            top = log_w.max(axis=1, keepdims=True)
            bounds.append((top + np.log(np.exp(log_w - top).mean(axis=1, keepdims=True)))[:, 0])
    return float(np.concatenate(elbos).mean()), float(np.concatenate(bounds).mean())


def independent_pixels(train: np.ndarray, test: np.ndarray) -> float:
    """ln p(x) per test image under independent Bernoulli pixels with the
    training frequencies (add-one smoothed, so no pixel is impossible)."""
    p = (train.sum(axis=0) + 1) / (len(train) + 2)
    return float((test * np.log(p) + (1 - test) * np.log1p(-p)).sum(axis=1).mean())


def train(model: VAE, images: np.ndarray, validation: np.ndarray, epochs: int, batch_size: int, lr: float,
          warmup: int, rng: np.random.Generator, samples: int = 20) -> tuple[list[tuple[float, float]], int]:
    """Adam on −ELBO, the KL weight β rising linearly from 0 to 1 over the first
    ``warmup`` epochs (so the decoder learns to use z before the KL pulls q
    towards the prior); lr halved when the validation ELBO stalls for 10
    epochs. The model ends with the parameters of its best validation epoch
    at β = 1. Returns (training objective, validation ELBO) per epoch and
    the best epoch (0 if none had β = 1)."""
    optimizer = nn.optim.Adam(model.parameters(), lr=lr)
    plateau = nn.optim.ReduceLROnPlateau(optimizer, mode="max", factor=0.5, patience=10)
    curve, best_epoch, best_state = [], 0, None
    for epoch in progress(range(1, epochs + 1), "epochs"):
        model.train()
        beta = min(1.0, epoch / warmup) if warmup else 1.0
        losses = [train_step(optimizer, -elbo(model, x, beta).mean())
                  for x in nn.batches(images, batch_size=batch_size, rng=rng)]
        valid, _ = held_out_bounds(model, validation, samples)
        curve.append((-float(np.mean(losses)), valid))
        plateau.step(valid)
        if beta == 1.0 and (best_state is None or valid > curve[best_epoch - 1][1]):
            best_epoch, best_state = epoch, copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    return curve, best_epoch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latent", type=positive_int, default=8,
                        help="size of z (with more than 2 the latent plot shows "
                        "the first two principal axes of μ)")
    parser.add_argument("--hidden", type=positive_int, default=256)
    parser.add_argument("--epochs", type=positive_int, default=300)
    parser.add_argument("--batch-size", type=positive_int, default=64)
    parser.add_argument("--lr", type=positive_float, default=1e-3)
    parser.add_argument("--warmup", type=non_negative_int, default=20,
                        help="epochs over which the KL weight rises to 1")
    parser.add_argument("--samples", type=positive_int, default=500, help="samples of z per test image for the bounds")
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--plot", default="vae.png", help="PNG of curves, latent space, reconstructions and samples "
                        "('' for none)")
    args = parser.parse_args(argv)
    check_plot(parser, args.plot)

    try:
        images, labels = load_digits()
    except ImportError:
        print("this example reads scikit-learn's bundled digits: pip install -e '.[examples]'", file=sys.stderr)
        return 2
    mg.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    data = split(images, labels)
    (x_train, _), (x_valid, _), (x_test, y_test) = data["train"], data["validation"], data["test"]
    model = VAE(images.shape[1], args.hidden, args.latent)
    print(f"{len(images)} images of {SIDE}x{SIDE} binary pixels: {len(x_train)} train, {len(x_valid)} validation, "
          f"{len(x_test)} test; {sum(p.size for p in model.parameters()):,} parameters")
    start = time.perf_counter()
    curve, best = train(model, x_train, x_valid, args.epochs, args.batch_size, args.lr, args.warmup, rng)
    seconds = time.perf_counter() - start
    if best:
        print(f"{seconds:.0f} s of training, best validation ELBO {curve[best - 1][1]:.2f} nats at epoch {best}")
    else:
        print(f"{seconds:.0f} s of training (all within the KL warm-up: the model is the last one)")
    test_elbo, test_bound = held_out_bounds(model, x_test, args.samples)
    print(f"held-out ELBO {test_elbo:.2f} nats per image, importance-weighted bound ({args.samples} samples) "
          f"{test_bound:.2f}; independent pixels {independent_pixels(x_train, x_test):.2f}, "
          f"a coin per pixel {-64 * math.log(2):.2f}")
    if args.plot:
        plot(args.plot, model, curve, x_test, y_test)
    return 0


def mosaic(images: np.ndarray, columns: int) -> np.ndarray:
    """Images (N, 64) tiled into one picture, ``columns`` across, between light grey lines."""
    rows = -(-len(images) // columns)
    step = SIDE + 1
    out = np.full((rows * step + 1, columns * step + 1), 0.2)
    for k, image in enumerate(images):
        r, c = divmod(k, columns)
        out[1 + r * step:(r + 1) * step, 1 + c * step:(c + 1) * step] = image.reshape(SIDE, SIDE)
    return out


def plot(path: str, model: VAE, curve: list[tuple[float, float]], x_test: np.ndarray, y_test: np.ndarray) -> None:
    """Curves; test images' μ (the first two principal axes when z has more than
    two dimensions); test images over their reconstructions; samples from the prior."""
    model.eval()
    with mg.no_grad():
        mu, _ = model.encode(x_test)
        mu = mu.data
        reconstructions = mg.sigmoid(model.decoder(mu[:16])).data
        prior = mg.sigmoid(model.decoder(mg.randn(48, model.latent, rng=np.random.default_rng(0)))).data
    if mu.shape[1] > 2:
        centred = mu - mu.mean(axis=0)
        mu = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T
    with figure(path, 2, 2, figsize=(10, 9)) as (fig, axes):
        (curves, latent), (recon, samples) = axes
        curves.plot([t for t, _ in curve], label="training (one sample, β as trained)")
        curves.plot([v for _, v in curve], label="validation ELBO")
        curves.set(xlabel="epoch", ylabel="nats per image", title="ELBO", ylim=(min(v for _, v in curve[5:]) - 5, None))
        curves.legend()
        for digit in range(10):
            at = mu[y_test == digit]
            latent.scatter(at[:, 0], at[:, 1], s=8, color=f"C{digit}", label=str(digit))
        latent.legend(markerscale=2, fontsize=8, ncol=2)
        latent.set(title="test images' μ" + (" (first two principal axes)" if model.latent > 2 else ""))
        pairs = np.stack([x_test[:16], reconstructions], axis=1).reshape(-1, SIDE * SIDE)
        recon.imshow(mosaic(pairs, 8), cmap="gray_r", vmin=0, vmax=1)
        recon.set(title="test images and their reconstructions p(x|μ)", xticks=[], yticks=[])
        samples.imshow(mosaic(prior, 8), cmap="gray_r", vmin=0, vmax=1)
        samples.set(title="samples from the prior: p(x|z), z ~ N(0, I)", xticks=[], yticks=[])


if __name__ == "__main__":
    sys.exit(main())
