"""Issue 14.1: modes are per thread. Two training loops and two inference
loops run side by side in threads and each gives, bit for bit, what it gives
alone; no_grad in one thread does not switch recording off in another."""

import sys
import threading

import numpy as np

import minigrad as mg
import nn


def train(seed: int, steps: int = 25) -> list[np.ndarray]:
    """A small LSTM regression trained for ``steps`` steps; its parameters after."""
    rng = np.random.default_rng(seed)
    lstm, head = nn.LSTM(3, 8, rng=rng), nn.Linear(8, 1, rng=rng)
    params = [*lstm.parameters(), *head.parameters()]
    optimizer = nn.optim.Adam(params, lr=1e-2)
    for _ in range(steps):
        x = mg.tensor(rng.standard_normal((6, 4, 3)).astype(np.float32))
        target = mg.tensor(rng.standard_normal((4, 1)).astype(np.float32))
        out, _ = lstm(x)
        loss = nn.functional.mse_loss(head(out[-1]), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return [p.data.copy() for p in params]


def infer(seed: int, steps: int = 40) -> list[np.ndarray]:
    """A fixed LSTM run on ``steps`` batches under no_grad; its outputs."""
    rng = np.random.default_rng(seed)
    lstm = nn.LSTM(3, 8, num_layers=2, rng=rng)
    outputs = []
    with mg.no_grad():
        for _ in range(steps):
            out, _ = lstm(mg.tensor(rng.standard_normal((5, 3, 3)).astype(np.float32)))
            assert not out.requires_grad
            outputs.append(out.data.copy())
    return outputs


def run_in_threads(jobs: list) -> list:
    results, errors = [None] * len(jobs), []
    start = threading.Barrier(len(jobs))

    def work(k, job, seed):
        try:
            start.wait()
            results[k] = job(seed)
        except BaseException as error:  # noqa: B036  (reported in the main thread)
            errors.append(error)

    threads = [threading.Thread(target=work, args=(k, job, seed)) for k, (job, seed) in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results


def test_two_training_and_two_inference_loops_in_threads_equal_their_single_threaded_runs():
    jobs = [(train, 0), (train, 1), (infer, 2), (infer, 3)]
    alone = [job(seed) for job, seed in jobs]
    together = run_in_threads(jobs)
    for single, threaded in zip(alone, together):
        for a, b in zip(single, threaded):
            np.testing.assert_array_equal(a, b)
    assert mg.is_grad_enabled()


def test_no_grad_in_one_thread_does_not_stop_recording_in_another():
    inside, done = threading.Event(), threading.Event()
    seen = {}

    def holder():
        with mg.no_grad():
            inside.set()
            done.wait(5)

    def learner():
        inside.wait(5)
        x = mg.tensor([1.0, 2.0], requires_grad=True)
        (x * x).sum().backward()
        seen["grad"] = x.grad.data.copy()
        seen["enabled"] = mg.is_grad_enabled()
        done.set()

    threads = [threading.Thread(target=holder), threading.Thread(target=learner)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    np.testing.assert_array_equal(seen["grad"], [2, 4])
    assert seen["enabled"] and mg.is_grad_enabled()


def test_overlapping_no_grad_blocks_in_two_threads_leave_grad_mode_on():
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()

    def first():
        with mg.no_grad():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second():
        first_in.wait(5)
        with mg.no_grad():
            second_in.set()
            first_out.wait(5)  # leaves after the first one left

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert mg.is_grad_enabled()
    results = run_in_threads([(lambda _: mg.is_grad_enabled(), 0)] * 2)
    assert results == [True, True]


def test_detect_anomaly_is_per_thread():
    started, checked = threading.Event(), threading.Event()

    def anomalous():
        with mg.detect_anomaly():
            started.set()
            checked.wait(5)

    thread = threading.Thread(target=anomalous)
    thread.start()
    started.wait(5)
    assert not mg.is_anomaly_enabled()
    checked.set()
    thread.join()


def test_another_thread_s_random_draws_do_not_upset_a_trace():
    stop = threading.Event()

    def draw():
        while not stop.is_set():
            mg.randn(50)

    drawer = threading.Thread(target=draw)
    drawer.start()
    try:
        xs = mg.tensor(np.ones((5, 2, 3), dtype=np.float32))
        for _ in range(200):
            mg.scan(lambda h, x: (mg.tanh(h + x), h), mg.zeros(2, 3), xs)
    finally:
        stop.set()
        drawer.join()


def test_backwards_in_four_threads_into_one_leaf_add_up():
    """Each backward adds 1 to x.grad: none is lost (the unlocked
    read-add-write lost 5-10 % of them with a short switch interval)."""
    x = mg.tensor(np.zeros(3), requires_grad=True)
    runs, threads = 300, 4

    def work():
        for _ in range(runs):
            (x * 1.0).sum().backward()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        workers = [threading.Thread(target=work) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        sys.setswitchinterval(interval)
    np.testing.assert_array_equal(x.grad.data, [runs * threads] * 3)


def test_one_no_grad_object_shared_between_threads_restores_each_threads_mode():
    """A module-level `NO_GRAD = mg.no_grad()` used in two threads: the object kept one stack of modes to
    restore, so a thread could leave the block with the other's mode (found by review)."""
    shared, barrier, results = mg.no_grad(), threading.Barrier(2, timeout=10), {}

    def run(name, outer):
        try:
            with mg.set_grad_enabled(outer):
                for _ in range(200):
                    with shared:
                        barrier.wait()  # (both threads inside the shared block at once)
                        inside = mg.is_grad_enabled()
                    barrier.wait()
                    if inside or mg.is_grad_enabled() != outer:
                        results[name] = (inside, mg.is_grad_enabled())
                        barrier.abort()
                        return
            results[name] = "ok"
        except threading.BrokenBarrierError:
            results.setdefault(name, "the other thread stopped")

    threads = [threading.Thread(target=run, args=(name, outer)) for name, outer in (("a", True), ("b", False))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"a": "ok", "b": "ok"}
