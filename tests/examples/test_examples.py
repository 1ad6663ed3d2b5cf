"""The seq2seq examples' command lines: the --translate contract (one
answer or a refusal per input, exit status 0/1/2), the model's confidence,
the translator's checks in order, the addition data, and clear errors
without tracebacks."""

import argparse
import io
import os

import numpy as np
import pytest

import minigrad as mg
import nn
from examples import addition, common, ctc_digits, translate_dates
from examples.seq2seq_cli import token_log_probs, translate_mode, translate_with_confidence


def lower_case_only(texts):
    """A stand-in translator: upper-cases lower-case words, refuses the rest."""
    return [(t.upper(), None) if t.isalpha() and t.islower() else (None, "not lower case") for t in texts]


def feed(monkeypatch, data: bytes) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


# -- the --translate contract -----------------------------------------------------------------

def test_arguments_print_the_answer_or_a_question_mark_and_why(capsys):
    assert translate_mode(["ab", "cd"], lower_case_only) == 0
    assert capsys.readouterr().out == "ab -> AB\ncd -> CD\n"
    assert translate_mode(["ab", "X1"], lower_case_only) == 1
    assert capsys.readouterr().out == "ab -> AB\nX1 -> ? (not lower case)\n"


def test_arguments_with_a_line_break_still_give_one_line_each(capsys):
    """An argument "ab\ncd" printed as two lines, the first without an answer."""
    assert translate_mode(["ab\ncd", "x\ty", "ef"], lambda texts: [("ok", None)] * len(texts)) == 0
    assert capsys.readouterr().out.splitlines() == ["'ab\\ncd' -> ok", "'x\\ty' -> ok", "ef -> ok"]


def test_stdin_gives_one_line_per_line_and_the_refusals_on_stderr(monkeypatch, capsys):
    feed(monkeypatch, b"ab\n\nX1\ncd\n")
    assert translate_mode(["-"], lower_case_only) == 1
    out, err = capsys.readouterr()
    assert out == "AB\n\n\nCD\n"
    assert err.splitlines() == ["line 2: '': not lower case", "line 3: 'X1': not lower case"]
    feed(monkeypatch, b"ab\r\ncd")  # Windows line ends, no newline at the end
    assert translate_mode(["-"], lower_case_only) == 0
    assert capsys.readouterr() == ("AB\nCD\n", "")
    feed(monkeypatch, b"")
    assert translate_mode(["-"], lower_case_only) == 0
    assert capsys.readouterr() == ("", "")


def test_a_reader_that_stops_early_ends_the_output_without_a_traceback(monkeypatch):
    """`--translate - < dates | head -1` died with a BrokenPipeError traceback."""
    read, write = os.pipe()
    os.close(read)  # (the reader is gone)
    with open(write, "w") as stdout:
        monkeypatch.setattr("sys.stdout", stdout)
        assert translate_mode(["ab"] * 10_000, lower_case_only) == 141
    # (closing flushed what was left in the buffer: to /dev/null, without an error)


def test_bytes_that_are_not_utf8_refuse_their_line_only(monkeypatch, capsys):
    feed(monkeypatch, b"ab\n\xff\xfe\ncd\n")
    assert translate_mode(["-"], lower_case_only) == 1
    out, err = capsys.readouterr()
    assert out == "AB\n\nCD\n" and err.startswith("line 2: ")


def test_stdin_dash_must_be_alone(capsys):
    assert translate_mode(["-", "ab"], lower_case_only) == 2
    assert "'-'" in capsys.readouterr().err


# -- the model's confidence -------------------------------------------------------------------

def test_token_log_probs_are_what_step_by_step_decoding_gives():
    """Summed, the teacher-forced log-probabilities of the greedy output are
    the score beam search (width 1: greedy) keeps step by step."""
    vocab = nn.CharVocab(translate_dates.SOURCE_CHARS)
    model = translate_dates.build_model(argparse.Namespace(embedding=6, hidden=5, attention="general")).to(np.float64)
    model.eval()
    src, lengths = translate_dates.encode_sources(["27.09.94", "sept 27, 1994", "x"], vocab)
    tokens, _ = model.greedy_decode(src, lengths, max_len=11)
    beam, scores = model.beam_search(src, lengths, beam_width=1, max_len=11, length_penalty=0.0)
    log_probs = token_log_probs(model, src, lengths, tokens, max_len=11)
    assert beam == tokens
    np.testing.assert_allclose(log_probs.sum(axis=1), scores, rtol=1e-9)
    for row, t in zip(log_probs, tokens):
        assert np.all(row[len(t) + 1:] == 0) and np.all(row[:min(len(t) + 1, 11)] < 0)
    encode = lambda texts: translate_dates.encode_sources(texts, vocab)  # noqa: E731
    target = nn.CharVocab(translate_dates.TARGET_CHARS)
    confidences = [c for _, c in translate_with_confidence(model, ["27.09.94", "sept 27, 1994", "x"], encode,
                                                            target, 11)]
    finished = [len(t) < 11 and not {target.pad_id, target.bos_id, target.unk_id} & set(t) for t in tokens]
    np.testing.assert_allclose(confidences, np.where(finished, np.exp(log_probs.min(axis=1)), 0.0))


class _Scripted:
    """A stand-in Seq2Seq whose greedy output is ``tokens`` and whose teacher-forced logits put all the
    probability on exactly that output (and an eos after it, if there is room)."""
    pad_id, bos_id, eos_id = 0, 1, 2

    def __init__(self, tokens):
        self.tokens = tokens

    def eval(self):
        return self

    def greedy_decode(self, src, lengths, max_len):
        return [list(self.tokens) for _ in range(len(src))], None

    def __call__(self, src, lengths, tgt_in):
        out = list(self.tokens) + [self.eos_id]
        logits = np.full((*tgt_in.shape, len(translate_dates.TARGET_CHARS) + 3), -30.0)
        for t in range(tgt_in.shape[1]):
            logits[:, t, out[t] if t < len(out) else 0] = 30.0
        return mg.tensor(logits), None


@pytest.mark.parametrize("extra", ["pad", "bos", "unfinished"])
def test_translator_refuses_an_output_that_is_no_finished_text(extra):
    """The decoder's output 1994-0<pad>9-27 (or with <bos>, or 11 tokens and no eos) decoded to 1994-09-27,
    special tokens dropped, and was answered with confidence 1 (found by outside audit)."""
    target = nn.CharVocab(translate_dates.TARGET_CHARS)
    ids = target.encode("1994-09-27")
    tokens = {"pad": ids[:6] + [target.pad_id] + ids[6:], "bos": ids[:6] + [target.bos_id] + ids[6:],
              "unfinished": ids + target.encode("7")}[extra]
    translator = translate_dates.DateTranslator(_Scripted(tokens), min_confidence=0.5)
    assert translator(["27.9.94"]) != [("1994-09-27", None)]
    (answer, reason), = translator(["27.9.94"])
    assert answer is None and "not a date" in reason
    assert translate_dates.DateTranslator(_Scripted(ids), min_confidence=0.5)(["27.9.94"]) == [("1994-09-27", None)]


# -- the date translator's checks -------------------------------------------------------------

def test_normalize_is_what_the_model_reads():
    assert translate_dates.normalize("  Sept. 27 ,  \u201994 ") == "sept.27,'94"
    assert translate_dates.normalize("\ufeff27 . 09 . 1994\t") == "27.09.1994"
    assert translate_dates.normalize("TUE  27  SEP  1994") == "tue 27 sep 1994"


def test_source_problems_are_named():
    vocab = nn.CharVocab(translate_dates.SOURCE_CHARS)
    assert "'年'" in translate_dates.source_problem("1994年", vocab)
    assert "empty" in translate_dates.source_problem("", vocab)
    assert "more than any date" in translate_dates.source_problem("1" * 49, vocab)
    assert translate_dates.source_problem("october 1,'07", vocab) is None
    with pytest.raises(ValueError, match="unknown character\\(s\\) '@'"):
        translate_dates.encode_sources(["may 5 @ 1990"], vocab)
    src, lengths = translate_dates.encode_sources(["MAY  5 ,   1990"], vocab)
    assert vocab.decode(src[0]) == "may 5,1990" and lengths[0] == len("may 5,1990")


def test_judge_refuses_in_order_model_then_answer_check_then_confidence():
    model = translate_dates.build_model(argparse.Namespace(embedding=4, hidden=4, attention="dot"))
    judge = translate_dates.DateTranslator(model, min_confidence=0.5).judge
    assert judge("27.09.94", "1994-09-27", 0.51) == ("1994-09-27", None)
    assert judge("hello", "?", 0.99) == (None, "the model reads no date in it")
    assert "1776" in judge("jan 1,1776", "?", 0.99)[1]
    assert "not a calendar date" in judge("feb 30,2001", "2001-02-30", 0.99)[1]
    assert "does not fit" in judge("27.09.94", "2094-09-27", 0.2)[1]  # the check's reason before the confidence
    assert judge("27.09.94", "1994-09-27", 0.49) == (
        None, "the model is unsure of 1994-09-27 (confidence 0.49 < 0.5)")


def test_translate_dates_cli_answers_every_line_or_says_why(dates_checkpoint, monkeypatch, capsys):
    lines = ["\ufeff27.09.94", "October 1, '07", "1994年", "", "hello", "9" * 60]
    feed(monkeypatch, "\n".join(lines).encode())
    code = translate_dates.main(["--checkpoint", dates_checkpoint, "--translate", "-"])
    out, err = capsys.readouterr()
    assert out.count("\n") == len(lines) and code in (0, 1)
    assert "line 3: '1994年': unknown character(s) '年'" in err and "line 4: '': empty" in err
    assert "line 6: " in err and code == 1
    for answer, line in zip(out.split("\n"), lines):
        assert answer == "" or (len(answer) == 10 and answer[4] == "-"), (line, answer)
    assert translate_dates.main(["--checkpoint", dates_checkpoint, "--translate", "a", "27.09.94"]) in (0, 1)
    assert capsys.readouterr().out.startswith("a -> ? (")


def test_translate_cli_errors_are_messages_not_tracebacks(tmp_path, capsys):
    missing = tmp_path / "none.npz"
    for main in (translate_dates.main, addition.main):
        assert main(["--checkpoint", str(missing), "--translate", "1 may 2000"]) == 2
        assert "train first" in capsys.readouterr().err
    foreign = tmp_path / "foreign.npz"
    nn.save({"weights": np.zeros(3)}, foreign)
    assert translate_dates.main(["--checkpoint", str(foreign), "--translate", "1 may 2000"]) == 2
    assert "is not a checkpoint of examples.translate_dates" in capsys.readouterr().err
    assert addition.main(["--checkpoint", str(foreign), "--translate", "1+2"]) == 2
    assert "is not a checkpoint of examples.addition" in capsys.readouterr().err
    assert addition.main(["--checkpoint", str(tmp_path), "--translate", "1+2"]) == 2  # a directory
    assert capsys.readouterr().err.startswith(f"{tmp_path} is a directory, not a checkpoint")  # (was: train first)


def test_a_checkpoint_of_the_other_example_is_named_as_such(dates_checkpoint, addition_checkpoint, tmp_path,
                                                            monkeypatch, capsys):
    """translate_dates said "Attention: kind must be one of (...), got True" of an addition checkpoint, addition
    called a translate_dates one "written by an older examples.addition", and --resume said "an older version of
    this example, without --monitor-every"."""
    assert translate_dates.main(["--checkpoint", addition_checkpoint, "--translate", "1 may 2000"]) == 2
    assert capsys.readouterr().err == (f"{addition_checkpoint} is a checkpoint of examples.addition, not of "
                                       "examples.translate_dates\n")
    assert addition.main(["--checkpoint", dates_checkpoint, "--translate", "1+2"]) == 2
    assert "is a checkpoint of examples.translate_dates, not of examples.addition" in capsys.readouterr().err
    monkeypatch.setattr(common, "check_plot", lambda *args: None)  # (the test extra has no matplotlib)
    for main, other in [(translate_dates.main, addition_checkpoint), (addition.main, dates_checkpoint)]:
        copy = tmp_path / "other.npz"
        copy.write_bytes(open(other, "rb").read())
        with pytest.raises(SystemExit) as stop:
            main(["--checkpoint", str(copy), "--resume"])
        assert stop.value.code == 2 and "is a checkpoint of examples." in capsys.readouterr().err


def test_translate_refuses_a_training_option_that_differs_from_the_checkpoints(dates_checkpoint, tiny, capsys):
    """--translate --attention dot (or --hidden 64) used the checkpoint's model without a word."""
    for option, value, saved in [("--attention", "dot", "general"), ("--hidden", "9", "8"), ("--epochs", "5", "2")]:
        with pytest.raises(SystemExit) as stop:
            translate_dates.main(["--checkpoint", dates_checkpoint, "--translate", "1 may 2000", option, value])
        assert stop.value.code == 2
        assert f"--translate uses the model as it was trained, but {option} {value} differs from the checkpoint's " \
               f"{saved}" in capsys.readouterr().err
    same = tiny["translate_dates"] + ["--min-confidence", "0.9"]  # (the training options, and a translating one)
    assert translate_dates.main(same + ["--checkpoint", dates_checkpoint, "--translate", "1 may 2000"]) in (0, 1)


def test_a_checkpoint_that_cannot_be_read_is_a_message(dates_checkpoint, monkeypatch, capsys):
    """A PermissionError (a file of another user) came out of --translate and --resume as a traceback."""
    def denied(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(nn, "load", denied)
    assert translate_dates.main(["--checkpoint", dates_checkpoint, "--translate", "1 may 2000"]) == 2
    assert capsys.readouterr().err == f"{dates_checkpoint} cannot be read (Permission denied)\n"
    with pytest.raises(SystemExit) as stop:
        translate_dates.main(["--checkpoint", dates_checkpoint, "--resume", "--plots", ""])
    assert stop.value.code == 2 and "Permission denied" in capsys.readouterr().err


# -- addition ---------------------------------------------------------------------------------

def test_held_out_sums_per_operand_length_pair():
    test = addition.held_out(per_pair=500, seed=0)
    assert set(test) == set(addition.LENGTH_PAIRS)
    for (la, lb), codes in test.items():
        a, b = codes // 1000, codes % 1000
        assert len(codes) == min(500, len(addition.operands(la)) * len(addition.operands(lb)) // 5)
        assert len(set(codes.tolist())) == len(codes)
        assert all(len(str(x)) == la for x in a) and all(len(str(y)) == lb for y in b)
    assert len(test[1, 1]) == 20


def test_training_sums_cover_every_length_pair_alike_and_never_a_held_out_one():
    test = addition.held_out(per_pair=500, seed=0)
    sums = addition.training_sums(9000, test, seed=1)
    assert len(sums) == 9000
    held = {int(c) for codes in test.values() for c in codes}
    assert not {a * 1000 + b for a, b in sums} & held
    counts = {pair: 0 for pair in addition.LENGTH_PAIRS}
    for a, b in sums:
        counts[len(str(a)), len(str(b))] += 1
    assert all(850 <= c <= 1150 for c in counts.values()), counts  # 1000 each, binomial sd 30
    assert addition.training_sums(9000, test, seed=1) == sums  # a seed gives the same sums (resume)


def test_addition_questions_and_refusals():
    vocab = nn.CharVocab(addition.SOURCE_CHARS)
    src, _ = addition.encode_questions([" 016 + 75 "], vocab, reverse=True)
    assert vocab.decode(src[0]) == "57+61"
    for good, canonical in [("16+75", "16+75"), (" 016 + 75 ", "16+75"), ("0+0", "0+0"), ("999+999", "999+999"),
                            ("0007+1", "7+1")]:
        assert addition.question_problem(good) is None and addition.canonical(good) == canonical
    for bad in ["16-75", "1234+5", "1000+1", "", "  ", "1+2+3", "+5", "5+", "a+b", "1 6+75", "\u0661+\u0662"]:
        assert addition.question_problem(bad), bad
        with pytest.raises(ValueError):
            addition.encode_questions([bad], vocab, reverse=False)


def test_adder_shows_a_reversed_answer_in_the_usual_order(monkeypatch):
    """With --reverse (the default) the model writes the ones digit first."""
    model = addition.build_model(argparse.Namespace(embedding=4, hidden=4, attention=True, layout=addition.LAYOUT))
    monkeypatch.setattr(addition, "translate_with_confidence", lambda m, texts, *a: [("41", 0.9), ("8", 0.2)])
    assert addition.Adder(model, reverse=True, min_confidence=0.5)(["6+8", "1+7", "x"]) == [
        ("14", None), (None, "the model is unsure of 8 (confidence 0.20 < 0.5)"),
        (None, "not a sum of two numbers of up to 3 digits (write it like 16+75)")]
    assert addition.Adder(model, reverse=False, min_confidence=0.5)(["6+8", "1+7"])[0] == ("41", None)


def test_adder_refuses_an_output_that_is_not_a_number_as_sums_are_written(addition_checkpoint, monkeypatch,
                                                                           capsys):
    """An empty output (eos first) or a leading zero was printed as the answer, with exit 0; on stdin the
    empty answer was an empty line -- a refusal by the contract -- without a reason."""
    outputs = {"1+2": "", "2+3": "50", "0+0": "00", "999+999": "8991", "0+4": "4", "5+5": "01"}
    monkeypatch.setattr(addition, "translate_with_confidence", lambda m, texts, *a: [(outputs[t], 0.99) for t in texts])
    answers = dict(zip(outputs, addition.Adder(None, reverse=True, min_confidence=0.5)(list(outputs))))
    assert {q: a for q, (a, _) in answers.items() if a is not None} == {"999+999": "1998", "0+4": "4", "5+5": "10"}
    assert answers["2+3"][1] == "the model wrote '50' (ones digit first), not a number"
    outputs["2+3"] = "05"  # (written as read)
    as_read = addition.Adder(None, reverse=False, min_confidence=0.5)
    assert as_read(["2+3"]) == [(None, "the model wrote '05', not a number")]
    feed(monkeypatch, b"1+2\n0+4\n")
    assert addition.main(["--checkpoint", addition_checkpoint, "--translate", "-"]) == 1
    out, err = capsys.readouterr()
    assert out == "\n4\n" and err == "line 1: '1+2': the model wrote '' (ones digit first), not a number\n"


def test_an_addition_checkpoint_of_the_old_layout_is_refused(addition_checkpoint, tmp_path, capsys):
    old = nn.load(addition_checkpoint)
    del old["config"]["layout"]  # written before answers were reversed too
    nn.save(old, tmp_path / "old.npz")
    assert addition.main(["--checkpoint", str(tmp_path / "old.npz"), "--translate", "1+2"]) == 2
    assert "older examples.addition" in capsys.readouterr().err


def test_addition_cli_answers_every_line_or_says_why(addition_checkpoint, monkeypatch, capsys):
    lines = ["1+2", "7-3", "", "1234+1", " 12 + 7 "]
    feed(monkeypatch, "\n".join(lines).encode())
    code = addition.main(["--checkpoint", addition_checkpoint, "--translate", "-"])
    out, err = capsys.readouterr()
    assert code == 1 and out.count("\n") == len(lines)
    assert [line.split(":")[0] for line in err.splitlines()] == (
        ["line 1"] * ("line 1:" in err) + ["line 2", "line 3", "line 4"] + ["line 5"] * ("line 5:" in err))
    assert all(answer == "" or answer.isdigit() for answer in out.split("\n"))


# -- ctc_digits -------------------------------------------------------------------------------

def test_edit_distance_known_values():
    assert ctc_digits.edit_distance([], [1, 2]) == 2
    assert ctc_digits.edit_distance([1, 2, 3], [1, 2, 3]) == 0
    assert ctc_digits.edit_distance([1, 2, 3], [1, 3]) == 1
    assert ctc_digits.edit_distance([3, 1, 2], [1, 2, 3]) == 2
    assert ctc_digits.edit_distance([1, 1, 1], [2, 2]) == 3


def test_utterances_collapse_to_their_labels():
    rng = np.random.default_rng(0)
    prototypes = 100 * np.eye(ctc_digits.DIGITS, ctc_digits.FEATURES)  # digit d: one huge feature d
    frames, labels = ctc_digits.make_utterances(300, rng, prototypes, noise=0.0)
    for x, digits in zip(frames, labels):
        assert 3 <= len(digits) <= 8 and x.shape[1] == ctc_digits.FEATURES
        per_frame = np.where(x.max(axis=1) > 10, x.argmax(axis=1), -1)  # -1: silence
        runs = [int(c) for k, c in enumerate(per_frame) if k == 0 or c != per_frame[k - 1]]
        assert [c for c in runs if c >= 0] == digits  # CTC's collapse: so repeats are always split by silence
        assert all(3 <= len(run) <= 7 for run in np.split(per_frame, np.flatnonzero(np.diff(per_frame)) + 1)
                   if run[0] >= 0)


def test_ctc_digits_learns_to_read_a_few_digits(capsys):
    import re

    assert ctc_digits.main(["--epochs", "2", "--train-size", "3000", "--test-size", "200", "--noise", "0.5",
                            "--hidden", "32", "--plot", ""]) == 0
    rates = [float(r) for r in re.findall(r"label error rate ([0-9.]+)%", capsys.readouterr().out)]
    assert len(rates) == 2 and rates[-1] < 12.0, rates  # measured: 23% after one epoch, 4.4% after two
