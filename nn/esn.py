"""Echo state network (Jaeger, 2001): a big fixed random recurrent
"reservoir" that is never trained, and a linear readout fitted in closed form.

NumPy only, not on the tape: nothing here is trained by gradients, so
``EchoStateNetwork`` is a plain class (not an ``nn.Module``) on NumPy arrays,
and its results carry no gradient.

    x_t = (1 − a)·x_{t-1} + a·tanh(W_in [1; u_t] + W x_{t-1})     (leaky units)
    y_t = W_out [1; u_t; x_t]

W is scaled to a chosen spectral radius (its largest |eigenvalue|), which
sets how long the reservoir remembers; W_out is ridge regression,
W_out = Y Xᵀ (X Xᵀ + λI)⁻¹.
"""

from __future__ import annotations

import numpy as np

import minigrad as mg

from ._checks import check_positive_int, check_real


class EchoStateNetwork:
    """``esn.fit(u, y)`` then ``esn.predict(u)`` or ``esn.generate(steps)``
    (free running: each output becomes the next input). u is (T, input_size),
    y is (T, output_size), or (T,) for one output; ``output_size`` None takes
    it from the targets given to fit."""

    def __init__(self, input_size: int, reservoir_size: int = 500, output_size: int | None = None,
                 spectral_radius: float = 1.25, leak: float = 0.3, input_scaling: float = 1.0,
                 ridge: float = 1e-8, rng: np.random.Generator | None = None):
        input_size, reservoir_size = check_positive_int("input_size", input_size), check_positive_int(
            "reservoir_size", reservoir_size)
        for name, value in (("spectral_radius", spectral_radius), ("leak", leak), ("input_scaling", input_scaling),
                            ("ridge", ridge)):
            check_real("EchoStateNetwork", name, value)  # (NaN would pass the range checks below as NaN weights)
        if not 0 < leak <= 1:
            raise ValueError(f"leak must be in (0, 1], got {leak!r}")
        if spectral_radius <= 0 or ridge < 0:
            raise ValueError(f"spectral_radius must be > 0 and ridge >= 0, got {spectral_radius!r} and {ridge!r}")
        rng = mg.get_rng(rng)
        self.input_size, self.reservoir_size = int(input_size), int(reservoir_size)
        # (None: as many outputs as the targets given to fit have columns)
        self._output_size_given = output_size is not None
        self.output_size = input_size if output_size is None else check_positive_int("output_size", output_size)
        self.leak, self.ridge = float(leak), float(ridge)
        self.w_in = input_scaling * rng.uniform(-0.5, 0.5, (reservoir_size, 1 + input_size))
        w = rng.uniform(-0.5, 0.5, (reservoir_size, reservoir_size))
        self.w = w * (spectral_radius / np.max(np.abs(np.linalg.eigvals(w))))
        self.w_out: np.ndarray | None = None
        self.state = np.zeros(reservoir_size)
        self.last_input = np.zeros(input_size)

    def _step(self, u: np.ndarray) -> np.ndarray:
        pre = self.w_in @ np.concatenate(([1.0], u)) + self.w @ self.state
        self.state = (1 - self.leak) * self.state + self.leak * np.tanh(pre)
        self.last_input = u
        return np.concatenate(([1.0], u, self.state))

    def _check(self, u: np.ndarray, name: str = "inputs") -> np.ndarray:
        u = np.asarray(u, dtype=np.float64)
        u = u[:, None] if u.ndim == 1 and self.input_size == 1 else u
        if u.ndim != 2 or u.shape[1] != self.input_size:
            raise ValueError(f"{name} must be (T, {self.input_size}), got shape {u.shape}")
        return u

    def features(self, inputs: np.ndarray) -> np.ndarray:
        """Run the reservoir over inputs (continuing from its current state):
        the (T, 1 + input_size + reservoir_size) readout features [1; u_t; x_t]."""
        inputs = self._check(inputs)
        out = np.empty((len(inputs), 1 + self.input_size + self.reservoir_size))
        for t, u in enumerate(inputs):
            out[t] = self._step(u)
        return out

    def fit(self, inputs: np.ndarray, targets: np.ndarray, washout: int = 100) -> np.ndarray:
        """Drive the reservoir from rest with inputs, drop the first ``washout``
        steps (the initial transient) and fit W_out by ridge regression.
        Returns the fitted outputs over the kept steps."""
        inputs, targets = self._check(inputs), np.asarray(targets, dtype=np.float64)
        if not len(inputs):
            raise ValueError(f"fit: the inputs have no time steps (shape {inputs.shape})")
        if targets.ndim not in (1, 2) or targets.shape[:1] != (len(inputs),) or 0 in targets.shape[1:]:
            raise ValueError(f"targets must be (T, output_size) with T = {len(inputs)} as for the inputs, or "
                             f"({len(inputs)},) for one output; got shape {targets.shape}")
        targets = targets.reshape(len(inputs), -1)  # (T,) -> (T, 1)
        if self._output_size_given and targets.shape[1] != self.output_size:
            raise ValueError(f"targets have {targets.shape[1]} outputs per step but output_size is "
                             f"{self.output_size}")
        if isinstance(washout, (bool, np.bool_)) or not isinstance(washout, (int, np.integer)) \
                or not 0 <= washout < len(inputs):
            raise ValueError(f"washout must be an int in 0..{len(inputs) - 1}, got {washout!r}")
        self.state = np.zeros(self.reservoir_size)
        X = self.features(inputs)[washout:]
        Y = targets[washout:]
        gram = X.T @ X + self.ridge * np.eye(X.shape[1])
        self.w_out = np.linalg.solve(gram, X.T @ Y).T  # (output_size, features)
        self.output_size = Y.shape[1]
        return X @ self.w_out.T

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """Teacher-forced outputs (T, output_size), continuing from the current state."""
        if self.w_out is None:
            raise RuntimeError("EchoStateNetwork: call fit() first")
        return self.features(inputs) @ self.w_out.T

    def generate(self, steps: int, first_input: np.ndarray | None = None) -> np.ndarray:
        """Free running: feed each output back as the next input (input and
        output must have the same size). Starts from the current state with
        ``first_input`` (default: the last input seen)."""
        if self.w_out is None:
            raise RuntimeError("EchoStateNetwork: call fit() first")
        if self.output_size != self.input_size:
            raise ValueError(f"generate needs output_size == input_size, got {self.output_size} "
                             f"and {self.input_size}")
        steps = check_positive_int("generate: steps", steps)
        if first_input is None:
            u = self.last_input
        else:
            u = np.asarray(first_input, dtype=np.float64)
            one_number = u.ndim == 0 and self.input_size == 1
            if u.shape not in ((self.input_size,), (1, self.input_size)) and not one_number:  # (one row, not several)
                raise ValueError(f"first_input must be ({self.input_size},) or (1, {self.input_size}), got shape "
                                 f"{u.shape}")
            u = u.reshape(self.input_size)
        outputs = np.empty((steps, self.output_size))
        for t in range(steps):
            u = outputs[t] = self.w_out @ self._step(u)
        return outputs
