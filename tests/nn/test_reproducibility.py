"""The same seed gives a bit-identical training run."""

import numpy as np

import minigrad as mg
import nn


def train(seed: int) -> dict:
    mg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.3), nn.Linear(8, 3))
    opt = nn.optim.Adam(model.parameters(), lr=1e-2)
    data_rng = np.random.default_rng(123)
    x, y = data_rng.standard_normal((64, 4)).astype(np.float32), data_rng.integers(0, 3, 64)
    for _ in range(3):
        for xb, yb in nn.batches(x, y, batch_size=16):  # shuffling from the global generator
            opt.zero_grad()
            nn.functional.cross_entropy(model(mg.tensor(xb)), yb).backward()
            opt.step()
    return model.state_dict()


def test_same_seed_same_weights_bit_for_bit():
    a, b, c = train(5), train(5), train(6)
    for key in a:
        assert np.array_equal(a[key], b[key])
    assert not all(np.array_equal(a[key], c[key]) for key in a)
