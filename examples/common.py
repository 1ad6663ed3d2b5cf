"""What the training examples do the same way: numeric command-line options,
a progress bar, one optimisation step, checkpoints at every epoch that a run
can resume from, saving a figure."""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import minigrad as mg
import nn


class Number:
    """An argparse ``type`` for a finite int or float in a range, so a bad
    value is a usage error (exit 2) naming the option before any work:
    ``parser.add_argument("--epochs", type=Number(int, above=0))``."""

    def __init__(self, kind: type, *, above: float | None = None, at_least: float | None = None,
                 at_most: float | None = None):
        self.kind, self.above, self.at_least, self.at_most = kind, above, at_least, at_most
        bounds = [f"> {above:g}" if above is not None else "", f">= {at_least:g}" if at_least is not None else "",
                  f"<= {at_most:g}" if at_most is not None else ""]
        self.__name__ = " ".join([f"{'an integer' if kind is int else 'a number'}", " and ".join(filter(None, bounds))])

    def __call__(self, text: str) -> int | float:
        try:
            value = self.kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or (self.above is not None and not value > self.above) or (
                self.at_least is not None and not value >= self.at_least) or (
                self.at_most is not None and not value <= self.at_most):
            raise argparse.ArgumentTypeError(f"expected {self.__name__.strip()}, got {text!r}")
        return value


positive_int = Number(int, above=0)
positive_float = Number(float, above=0)
non_negative_int = Number(int, at_least=0)  # seeds
non_negative_float = Number(float, at_least=0)
probability = Number(float, at_least=0, at_most=1)


def progress(iterable: Iterable, description: str) -> Iterable:
    """A tqdm progress bar over ``iterable`` that disappears when done, or the
    plain iterable when tqdm (the ``examples`` extra) is not installed."""
    try:
        from tqdm import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, desc=description, ncols=80, leave=False)


def train_step(optimizer: nn.optim.Optimizer, loss: mg.Tensor, max_norm: float | None = None) -> float:
    """Zero the gradients, backpropagate ``loss``, clip the gradient norm to
    ``max_norm`` (if given), update; returns the loss as a float."""
    optimizer.zero_grad()
    loss.backward()
    if max_norm is not None:
        nn.utils.clip_grad_norm_([p for group in optimizer.param_groups for p in group["params"]], max_norm)
    optimizer.step()
    return loss.item()


# -- checkpoints at every epoch, and resuming from them -----------------------------------------

# Options that say where things go, not what is trained: they may differ when a run is resumed.
NOT_TRAINING_OPTIONS = frozenset({"checkpoint", "resume", "translate", "plots", "plot"})


def add_checkpoint_options(parser: argparse.ArgumentParser, default: str) -> None:
    """--checkpoint (saved after every epoch) and --resume."""
    parser.add_argument("--checkpoint", default=default,
                        help="where the model is saved after every epoch (atomically) and loaded from")
    parser.add_argument("--resume", action="store_true",
                        help="continue the interrupted run saved in --checkpoint, with its settings; the result "
                             "is the same as an uninterrupted run")


def unwritable_reason(path: str) -> str | None:
    """Why ``path`` cannot be written as a checkpoint (None if it can): tried
    by creating a file beside it, as the atomic save will."""
    if os.path.isdir(path):
        return "it is a directory"
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        return f"the directory {directory} does not exist"
    try:
        fd, probe = tempfile.mkstemp(prefix=".tmp-probe-", dir=directory)
    except OSError as error:
        return f"cannot create files in {directory} ({error.strerror})"
    os.close(fd)
    os.remove(probe)
    return None


def check_plot(parser: argparse.ArgumentParser, path: str, option: str = "--plot") -> None:
    """Before any work: the figure ``path`` ('' for none) can be written and
    matplotlib is there to draw it (else the run fails at its very end)."""
    if not path:
        return
    reason = unwritable_reason(path)
    if reason:
        parser.error(f"{option}: {path} cannot be written: {reason} ('' for no plot)")
    if importlib.util.find_spec("matplotlib") is None:
        parser.error(f"{option}: plots need matplotlib (pip install -e '.[examples]'), or give {option} '' for none")


def check_checkpoint(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str] | None,
                     example: str) -> dict[str, Any] | None:
    """Before any training: the checkpoint path must be writable, and with
    --resume it must hold a run of ``example`` to continue, whose settings replace the
    defaults (``argv``, what ``args`` was parsed from: an option given there
    differently from the saved run is a usage error, also when it is given
    at its default value; a saved run without one of today's options, from
    an older version of the example, cannot be continued). Returns the saved
    run, or None for a fresh start."""
    reason = unwritable_reason(args.checkpoint)
    if reason:
        parser.error(f"--checkpoint {args.checkpoint} cannot be written: {reason}")
    if not args.resume:
        return None
    if not os.path.exists(args.checkpoint):
        parser.error(f"--resume: no checkpoint at {args.checkpoint}")
    try:
        saved = nn.load(args.checkpoint)
    except (ValueError, OSError) as error:
        parser.error(f"--resume: {error}")
    if not isinstance(saved, dict) or "epoch" not in saved or "optimizer" not in saved:
        parser.error(f"--resume: {args.checkpoint} holds no run to continue (it has no training state)")
    other = written_by(saved, example)
    if other:
        parser.error(f"--resume: {args.checkpoint} {other}")
    config, typed = saved["config"], _given(parser, args, argv)
    missing = sorted(name for name in vars(args) if name not in NOT_TRAINING_OPTIONS and name not in config)
    if missing:
        parser.error(f"--resume: {args.checkpoint} was written by an older version of this example, without "
                     f"--{missing[0].replace('_', '-')}: train again")
    for name, value in config.items():
        if name in NOT_TRAINING_OPTIONS or not hasattr(args, name):
            continue
        given = getattr(args, name)
        if name in typed and given != value:
            parser.error(f"--resume continues the saved run with its own settings, but "
                         f"--{name.replace('_', '-')} {given} differs from its {value}")
        setattr(args, name, value)
    return saved


def check_translate_options(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str] | None,
                            config: argparse.Namespace) -> None:
    """--translate uses the model as it was saved: a training option given on
    the command line (--hidden 64) that differs from the checkpoint's
    setting is a usage error, not silently ignored."""
    for name in sorted(_given(parser, args, argv) - NOT_TRAINING_OPTIONS - {"min_confidence"}):
        if hasattr(config, name) and getattr(args, name) != getattr(config, name):
            parser.error(f"--translate uses the model as it was trained, but --{name.replace('_', '-')} "
                         f"{getattr(args, name)} differs from the checkpoint's {getattr(config, name)}")


def _given(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str] | None) -> set[str]:
    """The options ``argv`` gives (argparse sets a default only where the namespace has no value yet, so a
    namespace filled with a marker keeps it for every option not given)."""
    marker = object()
    parsed = parser.parse_args(argv, argparse.Namespace(**{name: marker for name in vars(args)}))
    return {name for name, value in vars(parsed).items() if value is not marker}


def written_by(saved: Any, example: str) -> str | None:
    """What is wrong if the checkpoint ``saved`` is another example's (None if
    it is ``example``'s, or from before checkpoints named their example)."""
    other = saved.get("example") if isinstance(saved, dict) else None
    return None if other in (None, example) else f"is a checkpoint of examples.{other}, not of examples.{example}"


class EpochCheckpoint:
    """The run's checkpoint file, rewritten (atomically) after every epoch
    with everything the run needs to go on exactly as if never stopped: the
    settings, the epoch done, model, optimiser, schedule and the global
    random generator (batch order), plus extras (curves, clocks); and the
    name of the example, so that another's checkpoint is named as such."""

    def __init__(self, path: str, example: str):
        self.path, self.example = path, example
        self.epoch = 0  # the epoch the file holds, from this run (0: none yet)

    def save(self, args: argparse.Namespace, epoch: int, model: nn.Module, optimizer: nn.optim.Optimizer,
             schedule: nn.optim.LRScheduler, **extra: Any) -> None:
        try:
            nn.save({"example": self.example, "config": vars(args), "epoch": epoch, "model": model.state_dict(),
                     "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                     "rng": mg.get_rng().bit_generator.state, "extra": extra}, self.path)
        except OSError as error:  # (the directory removed, the disk full, ... since the run began)
            raise CheckpointNotSaved(f"cannot write {self.path} after epoch {epoch} ({error.strerror or error}): "
                                     "training stopped; " + self.holds()) from None
        self.epoch = epoch

    def holds(self) -> str:
        """What the file holds from this run, in words."""
        if self.epoch:
            return f"{self.path} keeps the model after epoch {self.epoch}; continue with --resume"
        return "nothing was saved"

    def restore(self, saved: dict[str, Any], model: nn.Module, optimizer: nn.optim.Optimizer,
                schedule: nn.optim.LRScheduler) -> dict[str, Any]:
        """Load a run saved by save() (from check_checkpoint); returns its extras."""
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        mg.get_rng().bit_generator.state = saved["rng"]
        self.epoch = saved["epoch"]
        return saved["extra"]


class CheckpointNotSaved(Exception):
    """The checkpoint could not be written after an epoch (run_interruptible says so)."""


def run_interruptible(train: Callable[[], None], checkpoint: EpochCheckpoint) -> int:
    """Run ``train``; on Ctrl-C say which epoch the checkpoint holds and
    return 130 (the shell's code for an interrupt); if a checkpoint cannot be
    written, say so and return 1."""
    try:
        train()
    except KeyboardInterrupt:
        if checkpoint.epoch:
            print(f"\ninterrupted: {checkpoint.holds()}", file=sys.stderr)
        else:
            print("\ninterrupted before the first epoch ended: nothing was saved", file=sys.stderr)
        return 130
    except CheckpointNotSaved as error:
        print(f"\n{error}", file=sys.stderr)
        return 1
    return 0


@contextmanager
def figure(path: str, *grid: int, **subplots) -> Iterator:
    """``with figure("out.png", 1, 2, figsize=(9, 4)) as (fig, axes):`` draw,
    and the figure is saved to ``path`` (PNG, no display needed) on leaving."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(*grid, **subplots)
    yield fig, axes
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"saved {path}")
