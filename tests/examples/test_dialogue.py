"""The dialogue example: the chats follow their script and need the context,
the batch bookkeeping points at the right utterances, teacher forcing and
step-by-step decoding agree, and the program runs in all three modes."""

import importlib.util
import math
import re
from collections import Counter, defaultdict

import numpy as np
import pytest

import minigrad as mg
from examples import dialogue

PLOTS = importlib.util.find_spec("matplotlib") is not None  # (the test venv has no matplotlib)


def chats(n: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    return [dialogue.make_dialogue(rng) for _ in range(n)]


def test_chats_follow_the_script():
    for chat in chats(300):
        kinds = [e["kind"] for e in chat]
        assert sorted(k for k in kinds if k in ("name", "food")) == ["food", "name"]
        assert kinds[-1] in ("ask name", "ask food") and 3 <= len(chat) <= 5
        told = {k: next(e["user"] for e in chat if e["kind"] == k) for k in ("name", "food")}
        for e in chat:
            assert e["reply"] in e["valid"] and all(w in dialogue.ID for w in (e["user"] + " " + e["reply"]).split())
            assert len(e["valid"]) == (1 if e["kind"].startswith("ask") else 4)
        (answer,) = chat[-1]["valid"]
        slot = answer.split()[-1]
        assert slot in told[chat[-1]["kind"][4:]].split()  # the answer is what the user said earlier
        assert slot not in chat[-1]["user"].split()  # ... and not in the question


def test_no_model_without_the_context_can_answer():
    """A reply that sees only the question can do no better than guessing:
    for every question text, the best single answer is right ≤ 1/5 of the time."""
    answers = defaultdict(Counter)
    for chat in chats(3000):
        answers[chat[-1]["user"]][chat[-1]["reply"]] += 1
    best = sum(max(c.values()) for c in answers.values()) / 3000
    assert best < 0.2, best  # 8 names or foods, uniformly: 1/8 plus sampling noise


def test_encode_points_at_the_right_utterances():
    batch_chats = chats(5, seed=1)
    batch = dialogue.encode(batch_chats)
    exchanges = [e for chat in batch_chats for e in chat]
    assert len(batch["row"]) == len(exchanges) and batch["turns"].tolist() == [2 * len(c) for c in batch_chats]
    for k, e in enumerate(exchanges):
        row, turn, b = batch["row"][k], batch["turn"][k], batch["dialogue"][k]
        assert dialogue.words(batch["tokens"][row, :batch["lengths"][row]]) == e["reply"]
        assert dialogue.words(batch["tokens"][row - 1, :batch["lengths"][row - 1]]) == e["user"]
        assert batch["position"][turn, b] == row - 1 and batch["position"][turn + 1, b] == row
        assert e in batch_chats[b]
    assert (batch["position"] == -1).sum() == batch["turns"].max() * 5 - batch["turns"].sum()


def test_decoder_io_shifts_by_one_and_drops_only_words():
    batch = dialogue.encode(chats(200, seed=2))
    inputs, targets = dialogue.decoder_io(batch)
    eos, bos, unk = dialogue.ID[dialogue.EOS], dialogue.ID[dialogue.BOS], dialogue.ID[dialogue.UNK]
    assert (inputs[:, 0] == bos).all()
    lengths = (targets != dialogue.IGNORE).sum(axis=1)
    assert (targets[np.arange(len(targets)), lengths - 1] == eos).all()
    inside = (targets[:, :-1] != dialogue.IGNORE) & (targets[:, :-1] != eos)  # the reply's words
    assert np.array_equal(np.where(inside, inputs[:, 1:], 0), np.where(inside, targets[:, :-1], 0))
    mg.manual_seed(0)
    dropped, _ = dialogue.decoder_io(batch, word_dropout=0.25)
    words = (inputs != dialogue.ID[dialogue.PAD]) & (inputs != bos)
    assert (dropped[~words] == inputs[~words]).all() and set(np.unique(dropped[dropped != inputs])) == {unk}
    rate = (dropped[words] == unk).mean()
    assert abs(rate - 0.25) < 4 * math.sqrt(0.25 * 0.75 / words.sum()), rate


@pytest.mark.parametrize("latent", [0, 3])
def test_greedy_decoding_agrees_with_teacher_forcing(latent):
    """Feeding the greedy reply back through the teacher-forced decoder gives
    the same argmax at every step (the two paths compute the same network)."""
    mg.manual_seed(4)
    model = dialogue.HRED(embedding=8, hidden=12, latent=latent)
    model.eval()
    with mg.no_grad():
        batch = dialogue.encode(chats(6, seed=3))
        context, _ = model.contexts(batch)
        condition = model.condition_from_prior(context, mean=True)
        replies = model.generate(condition, sample=False, max_length=6)
        inputs = np.concatenate([np.full((len(replies), 1), dialogue.ID[dialogue.BOS]), replies[:, :-1]], axis=1)
        logits = model.logits(condition, inputs)
    assert np.array_equal(logits.data.argmax(axis=-1), replies)


def test_hred_nll_is_the_teacher_forced_cross_entropy():
    mg.manual_seed(5)
    model = dialogue.HRED(embedding=8, hidden=12)
    batch = dialogue.encode(chats(4, seed=4))
    with mg.no_grad():
        nll, kl, tokens = model(batch)
        held_out_nll, neg_elbo, held_out_tokens = dialogue.reply_nll(model, batch, samples=3)
    assert kl.item() == 0 and tokens == held_out_tokens
    assert held_out_nll == pytest.approx(nll.item(), rel=1e-5) and neg_elbo == held_out_nll


def test_log_normal_and_kl_normal_agree_by_monte_carlo():
    """KL(q ‖ p) = E_q[ln q(z) − ln p(z)] for the densities the importance sampling uses."""
    rng = np.random.default_rng(0)
    mu, logvar, prior_mu, prior_logvar = (mg.tensor(rng.normal(size=(1, 3)) * 0.5) for _ in range(4))
    z = mu + mg.exp(0.5 * logvar) * mg.tensor(rng.standard_normal((200000, 3)))
    samples = (dialogue.log_normal(z, mu, logvar) - dialogue.log_normal(z, prior_mu, prior_logvar)).data
    import nn
    kl = nn.functional.kl_normal(mu, logvar, prior_mu, prior_logvar, reduction="sum").item()
    assert abs(samples.mean() - kl) < 5 * samples.std() / math.sqrt(len(samples))
    one = dialogue.log_normal(mg.tensor([[0.3]]), mg.tensor([[0.0]]), mg.tensor([[0.0]])).item()
    assert one == pytest.approx(-0.5 * (math.log(2 * math.pi) + 0.09))


def test_words_stop_at_eos_and_data_references():
    eos = dialogue.ID[dialogue.EOS]
    assert dialogue.words(dialogue.ids("hello there") + [eos] + dialogue.ids("me too")) == "hello there"
    assert dialogue.data_diversity(2, choices=2) == pytest.approx(1.5)
    chat = [{"reply": "hello there", "valid": {"a", "b", "c", "d"}}, {"reply": "you like cake", "valid": {"x"}}]
    assert dialogue.data_entropy([chat]) == pytest.approx(math.log(4) / 7)


@pytest.mark.parametrize("mode", [[], ["--latent"], ["--no-context"]])
def test_program_runs_in_every_mode(mode, tmp_path, capsys):
    plot = tmp_path / "dialogue.png"
    assert dialogue.main(mode + ["--train-size", "64", "--test-size", "12", "--epochs", "1", "--hidden", "16",
                                 "--draws", "3", "--samples", "2", "--plot", str(plot) if PLOTS else ""]) == 0
    out = capsys.readouterr().out
    assert re.search(r"held-out answers exact match [0-9.]+% \(\d+/\d+\)", out)
    assert re.search(r"held-out NLL per reply token: [0-9.]+ nats", out)
    assert len(re.findall(r"[0-9.]+ distinct per context, [0-9.]+% right", out)) == 2
    assert ("negative ELBO" in out) == (mode == ["--latent"]) and plot.exists() == PLOTS


def test_bad_command_lines_are_errors(capsys):
    for argv in (["--latent", "--no-context"], ["--word-dropout", "1.5"], ["--epochs", "0"], ["--kl-anneal", "-1"]):
        with pytest.raises(SystemExit):
            dialogue.main(argv)
    assert "--word-dropout" in capsys.readouterr().err
