"""The seed-classics examples run and reach what the README says they reach
(the fast ones at their default settings, the slow ones scaled down)."""

import re

import numpy as np

from examples import binary_addition, char_lm, echo_state, gradient_flow, rtrl_vs_bptt, sine, tree_parity


def numbers(pattern: str, text: str) -> list[float]:
    return [float(m) for m in re.findall(pattern, text)]


def test_mackey_glass_is_the_usual_series():
    x = echo_state.mackey_glass(2000)
    assert 0.2 < x.min() < 0.5 and 1.2 < x.max() < 1.4  # the attractor's usual range
    assert not np.allclose(x[:1000], x[1000:])  # chaotic, not periodic


def test_echo_state_network_free_runs_500_steps_under_1e_5(capsys):
    assert echo_state.main(["--plot", ""]) == 0
    (mse,) = numbers(r"first 500 generated steps: ([0-9.e+-]+)", capsys.readouterr().out)
    assert mse <= 1e-5


def test_binary_addition_is_exact_on_every_held_out_pair(capsys):
    assert binary_addition.main(["--plot", ""]) == 0
    out = capsys.readouterr().out
    assert "all 64536 held-out pairs: 100.00%" in out
    for a, b, s in re.findall(r"(\d+) \+ +(\d+) = (\d+)", out):
        assert int(a) + int(b) == int(s)


def test_bits_are_little_endian():
    x, y = binary_addition.make_batch(np.array([5]), np.array([255]))
    assert x[:, 0, 0].tolist() == [1, 0, 1, 0, 0, 0, 0, 0, 0] and y[:, 0].tolist() == [0, 0, 1, 0, 0, 0, 0, 0, 1]


def test_sine_models_learn_the_wave(capsys):
    assert sine.main(["--epochs", "4", "--steps", "800", "--plot", ""]) == 0
    mse = dict(re.findall(r"(\w+) *: test MSE ([0-9.e+-]+)", capsys.readouterr().out))
    assert mse.keys() == {"RNN", "Jordan", "LSTM"}
    assert all(float(v) < 0.1 for v in mse.values()), mse  # the wave's variance is 0.625


def test_gradient_flow_vanishes_explodes_and_clipping_saves_the_run(capsys):
    assert gradient_flow.main(["--plot", ""]) == 0
    out = capsys.readouterr().out
    small, large, lstm, lstm_forget = ([float(v) for v in re.findall(r"[0-9.]+e[+-]\d+", line)]
                                       for line in out.splitlines()[1:5])
    assert small[-1] < 1e-10 * small[0] and large[-1] > 1e3 * large[0]
    assert lstm_forget[-1] > 1e6 * lstm[-1]
    assert "no clipping: diverged" in out
    final, start = map(float, re.search(r"clip_grad_norm_\(1.0\): final loss ([0-9.]+) \(start ([0-9.]+)",
                                        out).groups())
    assert 0 < final < 1 and 0 < start < 1  # all 600 steps finite and bounded (whether it falls is chaotic)


def test_rtrl_table_agrees_with_bptt(capsys):
    assert rtrl_vs_bptt.main(["--lengths", "5", "20", "--hidden", "3", "6"]) == 0
    out = capsys.readouterr().out
    (difference,) = numbers(r"gradient difference over all runs: ([0-9.e+-]+)", out)
    assert difference < 1e-10 and len(re.findall(r"^ +\d+ +\d+ \|", out, flags=re.M)) == 4


def test_tree_parity_generalises(capsys):
    assert tree_parity.main(["--epochs", "12", "--train-size", "1500", "--plot", ""]) == 0
    accuracies = numbers(r"leaves: ([0-9.]+)%", capsys.readouterr().out)
    assert len(accuracies) == 2 and min(accuracies) > 90, accuracies


def test_random_trees_have_the_asked_leaves_and_parity():
    rng = np.random.default_rng(0)
    for leaves in range(1, 20):
        tree = tree_parity.random_tree(leaves, rng)
        flat = re.findall(r"\d", str(tree))
        assert len(flat) == leaves and tree_parity.parity(tree) == sum(map(int, flat)) % 2


def test_char_lm_learns_something_and_samples(capsys):
    assert char_lm.main(["--max-chars", "30000", "--epochs", "3", "--lr", "1e-2", "--hidden", "64",
                         "--batch-size", "16", "--sample-length", "50", "--temperature", "0.5", "--plot", ""]) == 0
    out = capsys.readouterr().out
    perplexities = numbers(r"held-out perplexity ([0-9.]+)", out)
    # uniform over the ~90 characters would be ~90; measured 19.5, 15.3, 14.2
    assert len(perplexities) == 3 and perplexities[-1] < 17 and perplexities[-1] < perplexities[0]
    sample = out.split("--- sample at temperature 0.5 ---\n")[1].split("\n", 1)[0]
    assert sample.startswith("The ")
