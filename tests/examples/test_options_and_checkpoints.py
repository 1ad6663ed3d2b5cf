"""Examples that survive mistakes: every numeric option of every example is
checked by argparse before any work (exit 2, naming the option); the
checkpoint path is checked before training; a checkpoint is saved after
every epoch, Ctrl-C keeps the last one and says so, and --resume continues
to exactly the result of an uninterrupted run."""

import argparse
import importlib
import importlib.util
import os
import pkgutil
import re

import numpy as np
import pytest

import examples
import minigrad as mg
import nn
from examples import addition, common, translate_dates
from examples.common import Number

PROGRAMS = sorted(m.name for m in pkgutil.iter_modules(examples.__path__)
                  if hasattr(importlib.import_module(f"examples.{m.name}"), "main"))


class Parsed(Exception):
    pass


def parser_of(module, monkeypatch) -> argparse.ArgumentParser:
    """The parser ``module.main`` builds (caught as it parses)."""
    caught = []

    def catch(self, args=None, namespace=None):
        caught.append(self)
        raise Parsed

    with monkeypatch.context() as patch:
        patch.setattr(argparse.ArgumentParser, "parse_args", catch)
        with pytest.raises(Parsed):
            module.main([])
    return caught[0]


def out_of_range(number: Number) -> list[str]:
    """Values ``number`` must refuse: not numbers, not finite, at each bound."""
    step = 1 if number.kind is int else 0.5
    bad = ["x", "", "nan", "inf", "-inf"] + (["1.5"] if number.kind is int else [])
    if number.above is not None:
        bad += [str(number.kind(number.above)), str(number.kind(number.above - step))]
    if number.at_least is not None:
        bad.append(str(number.kind(number.at_least - step)))
    if number.at_most is not None:
        bad.append(str(number.kind(number.at_most + step)))
    return bad


def test_the_programs_are_all_found():
    assert {"translate_dates", "addition", "char_lm", "ctc_digits", "echo_state", "binary_addition", "sine",
            "gradient_flow", "rtrl_vs_bptt", "tree_parity"} <= set(PROGRAMS)


@pytest.mark.parametrize("name", PROGRAMS)
def test_every_numeric_option_is_an_argparse_error_when_bad(name, monkeypatch, capsys):
    parser = parser_of(importlib.import_module(f"examples.{name}"), monkeypatch)
    typed = [action for action in parser._actions if action.type is not None]
    assert typed and all(isinstance(action.type, Number) for action in typed), [a.dest for a in typed]
    for action in typed:
        option = action.option_strings[0]
        for bad in out_of_range(action.type):
            with pytest.raises(SystemExit) as stop:
                parser.parse_args([option, bad])
            assert stop.value.code == 2, (option, bad)
            assert f"argument {option}" in capsys.readouterr().err
        if action.default is not None:  # the default passes its own check
            values = action.default if isinstance(action.default, list) else [action.default]
            assert getattr(parser.parse_args([option, *map(str, values)]), action.dest) == action.default


def test_numbers_in_range_pass_and_the_message_says_what_is_expected(capsys):
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=Number(float, above=0, at_most=1))
    assert parser.parse_args(["--rate", "1"]).rate == 1.0 and parser.parse_args(["--rate", "1e-3"]).rate == 1e-3
    with pytest.raises(SystemExit):
        parser.parse_args(["--rate", "0"])
    assert "argument --rate: expected a number > 0 and <= 1, got '0'" in capsys.readouterr().err


class Started(Exception):
    pass


def never_started(monkeypatch, *steps) -> None:
    """Make the first steps of work (seeding, a generator, a model) raise Started."""
    def started(*args, **kwargs):
        raise Started

    for owner, attribute in steps or [(mg, "manual_seed"), (np.random, "default_rng"), (nn.Module, "__init__")]:
        monkeypatch.setattr(owner, attribute, started)


def test_translate_dates_refuses_a_huge_negatives_before_training(tiny, monkeypatch, capsys):
    """--negatives 1e308 passed (finite) and training died: OverflowError: cannot convert float infinity to integer."""
    monkeypatch.setattr(translate_dates, "train", never)
    with pytest.raises(SystemExit) as stop:
        translate_dates.main(tiny["translate_dates"] + ["--negatives", "1e308"])
    assert stop.value.code == 2 and "argument --negatives: expected a number >= 0 and <= 100" in capsys.readouterr().err


def test_char_lm_refuses_too_little_text_before_reading_it(capsys):
    from examples import char_lm
    with pytest.raises(SystemExit) as stop:
        char_lm.main(["--max-chars", "10", "--plot", ""])
    assert stop.value.code == 2 and "--max-chars 10 is too little text" in capsys.readouterr().err




def test_char_lm_refuses_a_prompt_it_cannot_feed_before_training(monkeypatch, capsys):
    """A prompt with a character the text lacks raised ValueError from CharVocab.encode, an empty one TypeError
    from the embedding -- both after training."""
    from examples import char_lm
    never_started(monkeypatch, (nn.Module, "__init__"))  # (it seeds before it reads the text)
    for prompt, why in [("é😀", "character(s) 'é', '😀' do not occur in the text"), ("", "give at least one")]:
        with pytest.raises(SystemExit) as stop:
            char_lm.main(["--prompt", prompt, "--plot", ""])
        assert stop.value.code == 2 and f"--prompt {prompt!r}: {why}" in capsys.readouterr().err


def plot_option(name: str, monkeypatch) -> str | None:
    parser = parser_of(importlib.import_module(f"examples.{name}"), monkeypatch)
    return next((a.option_strings[0] for a in parser._actions if a.dest in ("plot", "plots")), None)


@pytest.mark.parametrize("name", PROGRAMS)
def test_a_plot_that_cannot_be_drawn_is_a_usage_error_before_any_work(name, tmp_path, monkeypatch, capsys):
    """A plot into a missing directory, or without matplotlib, failed with a traceback after the whole run."""
    option = plot_option(name, monkeypatch)
    if option is None:
        return

    never_started(monkeypatch)
    main = importlib.import_module(f"examples.{name}").main
    with pytest.raises(SystemExit) as stop:
        main([option, str(tmp_path / "missing" / "plot")])
    assert stop.value.code == 2 and f"{option}: " in (err := capsys.readouterr().err) and "does not exist" in err
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda module, *a: None if module == "matplotlib" else
                        find_spec(module, *a))
    with pytest.raises(SystemExit) as stop:
        main([option, str(tmp_path / "plot")])
    assert stop.value.code == 2 and "plots need matplotlib" in capsys.readouterr().err


# -- checkpoints --------------------------------------------------------------------------------

# (the program, its optimisation steps per epoch in the tiny run: 300 dates + 60 non-dates, or 400 sums, / 128)
SEQ2SEQ = [pytest.param(translate_dates, 3, id="translate_dates"), pytest.param(addition, 4, id="addition")]


def never(*args, **kwargs):
    raise AssertionError("training started")


@pytest.mark.parametrize("module, batches", SEQ2SEQ)
def test_an_unwritable_checkpoint_is_a_usage_error_before_training(module, batches, tiny, tmp_path, monkeypatch,
                                                                      capsys):
    tiny = tiny[module.__name__.split(".")[1]]
    monkeypatch.setattr(module, "train", never)
    for path, why in [(tmp_path / "missing" / "model.npz", "does not exist"), (tmp_path, "it is a directory")]:
        with pytest.raises(SystemExit) as stop:
            module.main(tiny + ["--checkpoint", str(path)])
        assert stop.value.code == 2 and why in capsys.readouterr().err


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can write a read-only directory")
def test_a_read_only_directory_is_a_usage_error_before_training(tiny, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(translate_dates, "train", never)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(SystemExit) as stop:
            translate_dates.main(tiny["translate_dates"] + ["--checkpoint", str(locked / "model.npz")])
        assert stop.value.code == 2 and "cannot create files" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)


def interrupt_at_step(monkeypatch, n: int) -> None:
    """Ctrl-C at the n-th optimisation step."""
    real, calls = common.train_step, []

    def step(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(common, "train_step", step)


def results(out: str) -> list[str]:
    """The printed results after training, without clocks and paths."""
    return [re.sub(r"\d+ s of training", "", line) for line in out.split("saved ", 1)[1].splitlines()[1:]]


@pytest.mark.parametrize("module, batches", SEQ2SEQ)
def test_a_checkpoint_that_cannot_be_written_mid_run_is_a_message(module, batches, tiny, tmp_path, monkeypatch,
                                                                  capsys):
    """The disk full (or the directory removed) when epoch 2's checkpoint is written: an OSError traceback from
    EpochCheckpoint.save. Now a message saying what the file keeps, and exit 1."""
    path, save = str(tmp_path / "run.npz"), nn.save

    def save_once(value, where):
        if nn.load(where)["epoch"] if os.path.exists(where) else False:
            raise OSError(28, "No space left on device")
        save(value, where)

    monkeypatch.setattr(nn, "save", save_once)
    assert module.main(tiny[module.__name__.split(".")[1]] + ["--checkpoint", path]) == 1
    err = capsys.readouterr().err
    assert f"cannot write {path} after epoch 2 (No space left on device): training stopped; {path} keeps the " \
           "model after epoch 1; continue with --resume" in err
    assert nn.load(path)["epoch"] == 1


@pytest.mark.parametrize("module, batches", SEQ2SEQ)
def test_resume_after_ctrl_c_gives_the_uninterrupted_result(module, batches, tiny, tmp_path, monkeypatch, capsys):
    tiny = tiny[module.__name__.split(".")[1]]
    whole, cut = str(tmp_path / "whole.npz"), str(tmp_path / "cut.npz")
    assert module.main(tiny + ["--checkpoint", whole]) == 0
    uninterrupted = capsys.readouterr().out

    with monkeypatch.context() as patch:
        interrupt_at_step(patch, batches + 2)  # in epoch 2
        assert module.main(tiny + ["--checkpoint", cut]) == 130
    err = capsys.readouterr().err
    assert f"interrupted: {cut} keeps the model after epoch 1; continue with --resume" in err
    assert nn.load(cut)["epoch"] == 1

    assert module.main(["--resume", "--checkpoint", cut] + (["--plots", ""] if module is translate_dates else [])) == 0
    resumed = capsys.readouterr().out
    assert "resuming after epoch 1 of 2" in resumed and "epoch 1:" not in resumed
    a, b = nn.load(whole), nn.load(cut)
    assert a["epoch"] == b["epoch"] == 2 and a["model"].keys() == b["model"].keys()
    for name in a["model"]:
        np.testing.assert_array_equal(a["model"][name], b["model"][name], err_msg=name)
    assert results(resumed) == results(uninterrupted) and results(resumed)


@pytest.mark.parametrize("module, batches", SEQ2SEQ)
def test_ctrl_c_in_the_first_epoch_saves_nothing_and_says_so(module, batches, tiny, tmp_path, monkeypatch, capsys):
    tiny = tiny[module.__name__.split(".")[1]]
    path = tmp_path / "model.npz"
    interrupt_at_step(monkeypatch, 2)
    assert module.main(tiny + ["--checkpoint", str(path)]) == 130
    assert "interrupted before the first epoch ended: nothing was saved" in capsys.readouterr().err
    assert not path.exists() and not list(tmp_path.iterdir())  # no temporary files either


def test_translating_with_an_interrupted_checkpoint_says_so(tiny, tmp_path, monkeypatch, capsys):
    path = str(tmp_path / "model.npz")
    with monkeypatch.context() as patch:
        interrupt_at_step(patch, 5)
        assert translate_dates.main(tiny["translate_dates"] + ["--checkpoint", path]) == 130
    capsys.readouterr()
    assert translate_dates.main(["--checkpoint", path, "--translate", "1 may 2000"]) in (0, 1)
    assert "holds epoch 1 of 2" in capsys.readouterr().err


@pytest.mark.parametrize("module, batches", SEQ2SEQ)
def test_resume_refuses_what_it_cannot_continue(module, batches, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(module, "train", never)
    monkeypatch.setattr(examples.common, "check_plot", lambda *args: None)  # (the test extra has no matplotlib)
    cases = []
    missing = tmp_path / "missing.npz"
    cases.append((["--checkpoint", str(missing)], "no checkpoint at"))
    weights_only = tmp_path / "weights.npz"
    nn.save({"model": {"w": np.zeros(2)}, "config": {}}, weights_only)
    cases.append((["--checkpoint", str(weights_only)], "holds no run to continue"))
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a checkpoint")
    cases.append((["--checkpoint", str(garbage)], "--resume: "))
    config = {}  # a fresh run's settings, all of them
    monkeypatch.setattr(module, "train", lambda args, saved, checkpoint: config.update(vars(args)))
    module.main(["--checkpoint", str(tmp_path / "fresh.npz")])
    monkeypatch.setattr(module, "train", never)
    saved = tmp_path / "run.npz"
    nn.save({"config": {**config, "hidden": 8, "seed": 3}, "epoch": 1, "optimizer": {}, "model": {}}, saved)
    cases.append((["--checkpoint", str(saved), "--hidden", "16"], "--hidden 16 differs from its 8"))
    # given at its default value, it was ignored: the run went on with the saved seed (found by outside audit)
    cases.append((["--checkpoint", str(saved), "--seed", "0"], "--seed 0 differs from its 3"))
    older = tmp_path / "older.npz"  # a run saved before one of today's options existed: it took today's default
    nn.save({"config": {k: v for k, v in config.items() if k != "hidden"}, "epoch": 1, "optimizer": {},
             "model": {}}, older)
    cases.append((["--checkpoint", str(older)], "written by an older version of this example, without --hidden"))
    for arguments, why in cases:
        with pytest.raises(SystemExit) as stop:
            module.main(["--resume"] + arguments)
        assert stop.value.code == 2 and why in capsys.readouterr().err, why
