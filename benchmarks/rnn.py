"""Composed minigrad LSTM, GRU and RNN against hand-derived NumPy forward + BPTT.

The references below are what a careful NumPy programmer writes by hand:
input projections for all steps in one matmul, the gates activated in
place, and the weight gradients of all steps in one matmul at the end. Each
is checked against minigrad (float64, every parameter's gradient) before it
is timed. Timing: forward + backward of out ⋅ G for a fixed random G (the
backward is seeded with G, so no loss ops are added on either side), float32,
best of several interleaved runs. Memory: tracemalloc peak of one forward +
backward.

Page faults. Both sides free everything at the end of a call; with its
defaults glibc then often hands the top of its heap back to the kernel, so
the next call page-faults it in again (~1.4 µs per 4 KiB page on our VM).
How much, for whom, depends on glibc's heuristics and on what the other
side did just before -- it swings single ratios by 10-20 %. ``--keep-heap`` tells glibc
to keep its heap first, as the examples do (examples/heap.py), for both
sides: the ratio of the computation alone. The README reports both.

    python -m benchmarks.rnn [--repeats R] [--sizes T,B,I,H ...] [--keep-heap] [--inference]

``--inference`` times the LSTM's forward under ``no_grad`` against a
hand-written NumPy forward (the same projection and gate arithmetic,
nothing kept for a backward).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

import minigrad as mg
import nn
from benchmarks._timing import interleaved, table
from examples.heap import keep_heap

SIZES = [(20, 1, 32, 32), (50, 32, 64, 128), (50, 64, 256, 256), (100, 64, 512, 512)]
TARGETS = {"LSTM": {(20, 1, 32, 32): 1.5, (50, 32, 64, 128): 1.15, (50, 64, 256, 256): 1.15}}
MEMORY_TARGET = {"LSTM": ((100, 64, 512, 512), 1.3)}


def sigmoid(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.divide(1, 1 + np.exp(-x), out=out)


# -- hand-derived references: forward keeps a cache, backward returns parameter gradients -----

def lstm_reference(x, p, dout):
    T, B, _ = x.shape
    H = p["weight_hh_l0"].shape[1]
    W_ih, W_hh = p["weight_ih_l0"], p["weight_hh_l0"]
    x2 = x.reshape(T * B, -1)
    acts = (x2 @ W_ih.T + (p["bias_ih_l0"] + p["bias_hh_l0"])).reshape(T, B, 4 * H)
    hs = np.zeros((T + 1, B, H), x.dtype)
    cs = np.zeros((T + 1, B, H), x.dtype)
    tanh_c = np.empty((T, B, H), x.dtype)
    for t in range(T):
        a = acts[t]
        a += hs[t] @ W_hh.T
        sigmoid(a[:, :2 * H], out=a[:, :2 * H])
        np.tanh(a[:, 2 * H:3 * H], out=a[:, 2 * H:3 * H])
        sigmoid(a[:, 3 * H:], out=a[:, 3 * H:])
        i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
        cs[t + 1] = f * cs[t] + i * g
        tanh_c[t] = np.tanh(cs[t + 1])
        hs[t + 1] = o * tanh_c[t]
    # backward
    d_acts = np.empty_like(acts)
    dh = np.zeros((B, H), x.dtype)
    dc = np.zeros((B, H), x.dtype)
    for t in reversed(range(T)):
        a = acts[t]
        i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
        dh = dh + dout[t]
        dc = dc + dh * o * (1 - tanh_c[t] ** 2)
        da = d_acts[t]
        da[:, :H] = dc * g * i * (1 - i)
        da[:, H:2 * H] = dc * cs[t] * f * (1 - f)
        da[:, 2 * H:3 * H] = dc * i * (1 - g * g)
        da[:, 3 * H:] = dh * tanh_c[t] * o * (1 - o)
        dc = dc * f
        dh = da @ W_hh
    da2 = d_acts.reshape(T * B, 4 * H)
    db = da2.sum(axis=0)
    return {"weight_ih_l0": da2.T @ x2, "weight_hh_l0": da2.T @ hs[:-1].reshape(T * B, H),
            "bias_ih_l0": db, "bias_hh_l0": db}


def lstm_forward_reference(x, p):
    """Inference: the LSTM's outputs (T, B, H), nothing kept for a backward."""
    T, B, _ = x.shape
    H = p["weight_hh_l0"].shape[1]
    W_hh_T = p["weight_hh_l0"].T
    acts = (x.reshape(T * B, -1) @ p["weight_ih_l0"].T + (p["bias_ih_l0"] + p["bias_hh_l0"])).reshape(T, B, 4 * H)
    out = np.empty((T, B, H), x.dtype)
    h, c = np.zeros((B, H), x.dtype), np.zeros((B, H), x.dtype)
    for t in range(T):
        a = acts[t]
        a += h @ W_hh_T
        sigmoid(a[:, :2 * H], out=a[:, :2 * H])
        np.tanh(a[:, 2 * H:3 * H], out=a[:, 2 * H:3 * H])
        sigmoid(a[:, 3 * H:], out=a[:, 3 * H:])
        c = a[:, H:2 * H] * c + a[:, :H] * a[:, 2 * H:3 * H]
        h = out[t] = a[:, 3 * H:] * np.tanh(c)
    return out


def gru_reference(x, p, dout):
    T, B, _ = x.shape
    H = p["weight_hh_l0"].shape[1]
    W_ih, W_hh, b_hh = p["weight_ih_l0"], p["weight_hh_l0"], p["bias_hh_l0"]
    x2 = x.reshape(T * B, -1)
    xp = (x2 @ W_ih.T + p["bias_ih_l0"]).reshape(T, B, 3 * H)
    hs = np.zeros((T + 1, B, H), x.dtype)
    rz = np.empty((T, B, 2 * H), x.dtype)
    ns = np.empty((T, B, H), x.dtype)
    hn = np.empty((T, B, H), x.dtype)
    for t in range(T):
        hp = hs[t] @ W_hh.T + b_hh
        sigmoid(xp[t, :, :2 * H] + hp[:, :2 * H], out=rz[t])
        hn[t] = hp[:, 2 * H:]
        ns[t] = np.tanh(xp[t, :, 2 * H:] + rz[t, :, :H] * hn[t])
        z = rz[t, :, H:]
        hs[t + 1] = ns[t] + z * (hs[t] - ns[t])
    d_xp = np.empty_like(xp)
    d_hp = np.empty_like(xp)
    dh = np.zeros((B, H), x.dtype)
    for t in reversed(range(T)):
        r, z, n = rz[t, :, :H], rz[t, :, H:], ns[t]
        dh = dh + dout[t]
        dn = dh * (1 - z) * (1 - n * n)
        dr = dn * hn[t] * r * (1 - r)
        dz = dh * (hs[t] - n) * z * (1 - z)
        d_xp[t, :, :H], d_xp[t, :, H:2 * H], d_xp[t, :, 2 * H:] = dr, dz, dn
        d_hp[t, :, :H], d_hp[t, :, H:2 * H], d_hp[t, :, 2 * H:] = dr, dz, dn * r
        dh = dh * z + d_hp[t] @ W_hh
    dx2, dh2 = d_xp.reshape(T * B, 3 * H), d_hp.reshape(T * B, 3 * H)
    return {"weight_ih_l0": dx2.T @ x2, "weight_hh_l0": dh2.T @ hs[:-1].reshape(T * B, H),
            "bias_ih_l0": dx2.sum(axis=0), "bias_hh_l0": dh2.sum(axis=0)}


def rnn_reference(x, p, dout):
    T, B, _ = x.shape
    H = p["weight_hh_l0"].shape[1]
    W_ih, W_hh = p["weight_ih_l0"], p["weight_hh_l0"]
    x2 = x.reshape(T * B, -1)
    hs = np.zeros((T + 1, B, H), x.dtype)
    pre = (x2 @ W_ih.T + (p["bias_ih_l0"] + p["bias_hh_l0"])).reshape(T, B, H)
    for t in range(T):
        hs[t + 1] = np.tanh(pre[t] + hs[t] @ W_hh.T)
    d_pre = np.empty_like(pre)
    dh = np.zeros((B, H), x.dtype)
    for t in reversed(range(T)):
        d_pre[t] = (dh + dout[t]) * (1 - hs[t + 1] ** 2)
        dh = d_pre[t] @ W_hh
    d2 = d_pre.reshape(T * B, H)
    db = d2.sum(axis=0)
    return {"weight_ih_l0": d2.T @ x2, "weight_hh_l0": d2.T @ hs[:-1].reshape(T * B, H),
            "bias_ih_l0": db, "bias_hh_l0": db}


KINDS = {"LSTM": (nn.LSTM, lstm_reference), "GRU": (nn.GRU, gru_reference), "RNN": (nn.RNN, rnn_reference)}


def minigrad_run(model: nn.Module, x: mg.Tensor, dout: np.ndarray) -> dict:
    model.zero_grad()
    out, _ = model(x)
    out.backward(dout)
    return {name: p.grad.data for name, p in model.named_parameters()}


def setup(kind: str, size: tuple, dtype) -> tuple:
    T, B, I, H = size
    mg.manual_seed(0)
    model = KINDS[kind][0](I, H).to(dtype)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    dout = rng.standard_normal((T, B, H)).astype(dtype)
    return model, x, dout


def check(kind: str, size: tuple) -> float:
    """Largest relative difference of any parameter gradient (float64)."""
    model, x, dout = setup(kind, size, np.float64)
    ours = minigrad_run(model, mg.Tensor(x), dout)
    ref = KINDS[kind][1](x, model.state_dict(), dout)
    return max(float(np.abs(ours[k] - ref[k]).max() / (np.abs(ref[k]).max() + 1e-30)) for k in ref)


def inference_rows(sizes: list, repeats: int) -> list:
    """The LSTM's forward under no_grad against lstm_forward_reference (checked to agree first)."""
    rows = []
    for size in sizes:
        model, x, _ = setup("LSTM", size, np.float64)
        with mg.no_grad():
            ours = model(mg.Tensor(x))[0].data
        error = float(np.abs(ours - lstm_forward_reference(x, model.state_dict())).max())
        if error > 1e-10:
            raise SystemExit(f"LSTM forward: minigrad and the reference disagree (max diff {error:.2e})")
        model, x, _ = setup("LSTM", size, np.float32)
        params, xt = model.state_dict(), mg.Tensor(x)

        def ours_run():
            with mg.no_grad():
                model(xt)

        best = interleaved({"minigrad": ours_run, "numpy": lambda: lstm_forward_reference(x, params)}, repeats)
        rows.append(["LSTM", "x".join(map(str, size)), f"{best['minigrad'] * 1e3:.2f}",
                     f"{best['numpy'] * 1e3:.2f}", f"{best['minigrad'] / best['numpy']:.2f}", "<= 1.1"])
    return rows


def peak_memory(fn) -> int:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7, help="interleaved timing runs; the best counts")
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    parser.add_argument("--sizes", nargs="+", default=[",".join(map(str, s)) for s in SIZES],
                        help="T,B,I,H sizes to time")
    parser.add_argument("--keep-heap", action="store_true",
                        help="tell glibc to keep its heap first, as the examples do (no page faults; see above)")
    parser.add_argument("--inference", action="store_true",
                        help="time the LSTM's forward under no_grad against a hand-written forward instead")
    args = parser.parse_args()
    heap = ", glibc keeping its heap" if args.keep_heap and keep_heap() else ""
    sizes = [tuple(int(v) for v in s.split(",")) for s in args.sizes]
    if args.inference:
        print(f"LSTM inference (forward under no_grad), float32{heap} (checked against the reference in float64 first)")
        print(table(["layer", "T x B x I x H", "minigrad ms", "numpy ms", "ratio", "target"],
                    inference_rows(sizes, args.repeats)))
        return

    rows = []
    for kind in args.kinds:
        error = max(check(kind, (T, min(B, 4), min(I, 16), min(H, 16))) for T, B, I, H in sizes)
        if error > 1e-5:
            raise SystemExit(f"{kind}: minigrad and the hand-derived reference disagree (max rel diff {error:.2e})")
        for size in sizes:
            model, x, dout = setup(kind, size, np.float32)
            params = model.state_dict()
            xt = mg.Tensor(x)
            reference = KINDS[kind][1]
            ours_best = ref_best = float("inf")
            for _ in range(args.repeats):  # interleaved, so both see the same machine
                start = time.perf_counter()
                minigrad_run(model, xt, dout)
                ours_best = min(ours_best, time.perf_counter() - start)
                start = time.perf_counter()
                reference(x, params, dout)
                ref_best = min(ref_best, time.perf_counter() - start)
            ratio = ours_best / ref_best
            target = TARGETS.get(kind, {}).get(size)
            memory = ""
            if MEMORY_TARGET.get(kind, (None,))[0] == size:
                ours_mem = peak_memory(lambda: minigrad_run(model, xt, dout))
                ref_mem = peak_memory(lambda: reference(x, params, dout))
                memory = (f"{ours_mem / 2**20:.0f} / {ref_mem / 2**20:.0f} MiB = {ours_mem / ref_mem:.2f}x "
                          f"(target <= {MEMORY_TARGET[kind][1]}x)")
            rows.append([kind, "x".join(map(str, size)), f"{ours_best * 1e3:.1f}", f"{ref_best * 1e3:.1f}",
                         f"{ratio:.2f}", f"<= {target}" if target else "", memory])
    print(f"forward + backward, float32{heap} (gradients checked against the references in float64 first)")
    header = ["layer", "T x B x I x H", "minigrad ms", "numpy ms", "ratio", "target", "peak memory (minigrad / numpy)"]
    print(table(header, rows))


if __name__ == "__main__":
    main()
