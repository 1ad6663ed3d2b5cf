"""Dialogue models that read the whole conversation: HRED, and VHRED with a
latent variable per turn, on a synthetic chat whose answers need the context.

    python -m examples.dialogue                 # HRED: prints answer accuracy, NLL, diversity; saves dialogue.png
    python -m examples.dialogue --latent        # VHRED
    python -m examples.dialogue --no-context    # the seq2seq baseline: the reply sees only the last utterance

The chats: a user introduces themself ("hello , my name is carol"), says
what they like ("i really love sushi"), in either order, chats a little
(0-2 filler exchanges), then asks "what is my name ?" or "what food do i
like ?". The system replies to every user turn: to the question with the one
right answer ("your name is carol"), to the others with one of four
paraphrases picked at random ("hi carol , how are you ?", "hello there", ...).
So an answer needs a fact told up to 8 utterances earlier, and an open reply
has four right forms: one model for each is not enough.

HRED (Serban et al. 2016): a GRU encodes each utterance to a vector, a
context GRU runs over those vectors turn by turn, and a GRU decoder writes
the reply from the context state. --no-context gives the context GRU the
last utterance alone -- seq2seq, one question, one answer -- and it cannot
know the name. VHRED (Serban et al. 2017) adds a Gaussian latent z per reply:
a prior p(z | context) and, in training, a posterior q(z | context, reply);
the loss is the negative ELBO, the reply's NLL + β·KL(q ‖ p), with β annealed
from 0 to 1, and the decoder's input words dropped at random so that it has
to use z. Decoding greedily, HRED always says the same thing; VHRED, with z
drawn from the prior, varies the whole reply.

Printed: held-out exact match on the answers, held-out NLL per reply token
(VHRED: importance-sampled, and its ELBO), and for the open replies the
distinct replies among 10 draws per context and how many of them are right.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

import minigrad as mg
import nn
from examples.common import (
    check_plot,
    figure,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    probability,
    progress,
    train_step,
)

NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
FOODS = ["pizza", "sushi", "pasta", "curry", "salad", "tacos", "soup", "cake"]
# (what the user says, the system's possible replies); {name}/{food} are the user's
EXCHANGES = {
    "name": (["hi , i am {name}", "hello , my name is {name}", "hey , {name} here"],
             ["nice to meet you , {name}", "hello there", "hi {name} , how are you ?", "good to see you"]),
    "food": (["i like {food}", "i really love {food}", "my favourite food is {food}"],
             ["me too", "oh , really ?", "{food} sounds good", "that is nice"]),
    "filler": (["nice weather today", "i am a bit tired", "what a long day", "i just got home"],
               ["i see", "tell me more", "yes , indeed", "how so ?"]),
    "ask name": (["what is my name ?", "do you remember my name ?"], ["your name is {name}"]),
    "ask food": (["what do i like ?", "what food do i like ?"], ["you like {food}"]),
}
PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
WORDS = [PAD, BOS, EOS, UNK] + sorted({w for user, system in EXCHANGES.values() for text in user + system
                                       for w in text.split() if "{" not in w} | set(NAMES) | set(FOODS))
ID = {w: i for i, w in enumerate(WORDS)}
IGNORE = -100  # target padding (cross_entropy's ignore_index)


# -- data -----------------------------------------------------------------------------------------

def make_dialogue(rng: np.random.Generator) -> list[dict]:
    """One chat as its exchanges: {"kind", "user", "reply", "valid"} (the
    valid set: every reply that would be right here)."""
    slots = {"name": NAMES[rng.integers(len(NAMES))], "food": FOODS[rng.integers(len(FOODS))]}
    kinds = ["name", "food"] if rng.random() < 0.5 else ["food", "name"]
    for _ in range(rng.integers(0, 3)):
        kinds.insert(int(rng.integers(0, len(kinds) + 1)), "filler")
    kinds.append("ask name" if rng.random() < 0.5 else "ask food")
    exchanges = []
    for kind in kinds:
        user, system = EXCHANGES[kind]
        valid = [s.format(**slots) for s in system]
        exchanges.append({"kind": kind, "user": user[rng.integers(len(user))].format(**slots),
                          "reply": valid[rng.integers(len(valid))], "valid": set(valid)})
    return exchanges


def ids(text: str) -> list[int]:
    return [ID[w] for w in text.split()]


def words(tokens) -> str:
    """Token ids up to the first <eos>, as text."""
    out = []
    for t in tokens:
        if t == ID[EOS]:
            break
        out.append(WORDS[t])
    return " ".join(out)


def encode(dialogues: list[list[dict]]) -> dict:
    """A batch of chats as arrays: every utterance (user and system, in order)
    padded (U, L) with lengths; where each sits in its chat, (turns, B) → row
    of U (−1: padding); and for each system reply its chat, the turn of the
    user utterance it answers, and its row in U."""
    utterances, where, replies = [], [], {"dialogue": [], "turn": [], "row": []}
    for b, chat in enumerate(dialogues):
        rows = []
        for exchange in chat:
            for text in (exchange["user"], exchange["reply"]):
                rows.append(len(utterances))
                utterances.append(ids(text))
            replies["dialogue"].append(b)
            replies["turn"].append(len(rows) - 2)
            replies["row"].append(rows[-1])
        where.append(rows)
    tokens, lengths = nn.pad_sequences(utterances, pad_value=ID[PAD])
    turns = np.array([len(r) for r in where])
    position = np.full((turns.max(), len(dialogues)), -1)
    for b, rows in enumerate(where):
        position[:len(rows), b] = rows
    return {"tokens": tokens, "lengths": lengths, "position": position, "turns": turns,
            **{key: np.array(value) for key, value in replies.items()}}


def decoder_io(batch: dict, word_dropout: float = 0.0, rng: np.random.Generator | None = None) -> tuple:
    """Teacher forcing for the replies: inputs <bos> w₁..w_n (each word
    replaced by <unk> with probability ``word_dropout``), targets w₁..w_n <eos>."""
    replies = [batch["tokens"][r, :n].tolist() for r, n in zip(batch["row"], batch["lengths"][batch["row"]])]
    inputs, _ = nn.pad_sequences([[ID[BOS]] + r for r in replies], pad_value=ID[PAD])
    targets, _ = nn.pad_sequences([r + [ID[EOS]] for r in replies], pad_value=IGNORE)
    if word_dropout:
        dropped = (mg.get_rng(rng).random(inputs.shape) < word_dropout) & (inputs != ID[PAD])
        dropped[:, 0] = False
        inputs = np.where(dropped, ID[UNK], inputs)
    return inputs, targets


# -- the model ------------------------------------------------------------------------------------

class HRED(nn.Module):
    """Utterance encoder -> context GRU -> reply decoder; with ``latent`` > 0
    VHRED (a Gaussian z per reply, its prior and posterior nets); with
    ``context=False`` the context GRU sees only the utterance replied to."""

    def __init__(self, embedding: int = 32, hidden: int = 64, latent: int = 0, context: bool = True):
        super().__init__()
        self.latent, self.use_context = latent, context
        self.embedding = nn.Embedding(len(WORDS), embedding, padding_idx=ID[PAD])
        self.encoder = nn.GRU(embedding, hidden, batch_first=True)
        self.context = nn.GRU(hidden, hidden)
        condition = hidden + latent
        self.bridge = nn.Linear(condition, hidden)
        self.decoder = nn.GRU(embedding + condition, hidden, batch_first=True)
        self.out = nn.Linear(hidden, len(WORDS))
        if latent:
            self.prior = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 2 * latent))
            self.posterior = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.Tanh(), nn.Linear(hidden, 2 * latent))

    def contexts(self, batch: dict) -> tuple[mg.Tensor, mg.Tensor]:
        """Per reply: the context state after the utterance it answers (R, H),
        and the encoding of the reply itself (R, H) (for the posterior)."""
        _, final = self.encoder(self.embedding(batch["tokens"]), lengths=batch["lengths"])
        encoded = final[0]  # (U, H)
        if not self.use_context:
            _, state = self.context(encoded[batch["row"] - 1][None])  # the answered utterance alone
            return state[0], encoded[batch["row"]]
        padded = mg.concat([encoded, mg.zeros((1, encoded.shape[1]), dtype=encoded.dtype)])
        states, _ = self.context(padded[batch["position"]], lengths=batch["turns"])  # (turns, B, H)
        return states[batch["turn"], batch["dialogue"]], encoded[batch["row"]]

    def prior_of(self, context: mg.Tensor) -> tuple[mg.Tensor, mg.Tensor]:
        """p(z | context) as (μ, ln σ²)."""
        return mg.chunk(self.prior(context), 2, axis=-1)

    def posterior_of(self, context: mg.Tensor, reply: mg.Tensor) -> tuple[mg.Tensor, mg.Tensor]:
        """q(z | context, reply) as (μ, ln σ²)."""
        return mg.chunk(self.posterior(mg.concat([context, reply], axis=-1)), 2, axis=-1)

    def logits(self, condition: mg.Tensor, inputs: np.ndarray) -> mg.Tensor:
        """Teacher-forced decoder: condition (R, C) is the initial state (through
        a tanh layer) and joins every input word; logits (R, L, vocab)."""
        h0 = mg.tanh(self.bridge(condition))[None]
        x = self.embedding(inputs)
        x = mg.concat([x, mg.broadcast_to(condition[:, None], (*x.shape[:2], condition.shape[-1]))], axis=-1)
        out, _ = self.decoder(x, h0)
        return self.out(out)

    def forward(self, batch: dict, word_dropout: float = 0.0) -> tuple[mg.Tensor, mg.Tensor, int]:
        """Summed reply NLL, summed KL (0 for HRED), number of target tokens;
        with a latent, z is drawn from the posterior (reparameterised)."""
        context, reply = self.contexts(batch)
        inputs, targets = decoder_io(batch, word_dropout)
        kl = mg.tensor(0.0)
        condition = context
        if self.latent:
            prior_mu, prior_logvar = self.prior_of(context)
            mu, logvar = self.posterior_of(context, reply)
            z = reparameterised(mu, logvar)
            kl = nn.functional.kl_normal(mu, logvar, prior_mu, prior_logvar, reduction="sum")
            condition = mg.concat([context, z], axis=-1)
        nll = nn.functional.cross_entropy(self.logits(condition, inputs), targets, ignore_index=IGNORE,
                                          reduction="sum")
        return nll, kl, int((targets != IGNORE).sum())

    def condition_from_prior(self, context: mg.Tensor, mean: bool = False) -> mg.Tensor:
        """[context; z] with z drawn from the prior (or its mean), or the context alone for HRED."""
        if not self.latent:
            return context
        mu, logvar = self.prior_of(context)
        z = mu if mean else reparameterised(mu, logvar)
        return mg.concat([context, z], axis=-1)

    def generate(self, condition: mg.Tensor, sample: bool, max_length: int = 10) -> np.ndarray:
        """Replies (R, ≤ max_length) word by word: the likeliest word each
        step, or one drawn from the softmax (mg.multinomial)."""
        h = mg.tanh(self.bridge(condition))[None]
        token = np.full(condition.shape[0], ID[BOS])
        out, finished = [], np.zeros(condition.shape[0], dtype=bool)
        for _ in range(max_length):
            x = mg.concat([self.embedding(token), condition], axis=-1)[:, None]
            y, h = self.decoder(x, h)
            logits = self.out(y[:, 0])
            token = (mg.multinomial(mg.softmax(logits, axis=-1))[:, 0] if sample
                     else mg.argmax(logits, axis=-1)).numpy()
            out.append(token)
            finished |= token == ID[EOS]
            if finished.all():
                break
        return np.stack(out, axis=1)


def reparameterised(mu: mg.Tensor, logvar: mg.Tensor) -> mg.Tensor:
    """z = μ + σ·ε, ε ~ N(0, 1): a draw from N(μ, σ²) that gradients flow through to μ and σ."""
    return mu + mg.exp(0.5 * logvar) * mg.randn_like(mu)


# -- evaluation -------------------------------------------------------------------------------------

def log_normal(z: mg.Tensor, mu: mg.Tensor, logvar: mg.Tensor) -> mg.Tensor:
    """ln N(z; μ, e^v) summed over the last axis."""
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu) ** 2 * mg.exp(-logvar)).sum(axis=-1)


def reply_nll(model: HRED, batch: dict, samples: int) -> tuple[float, float, int]:
    """Held-out −ln p(replies | context) summed, the negative ELBO summed (the
    same for HRED), and the number of reply tokens. VHRED's −ln p is the
    importance-sampled estimate −ln (1/K) Σ_k p(x | z_k) p(z_k) / q(z_k | x), z_k ~ q."""
    context, reply = model.contexts(batch)
    inputs, targets = decoder_io(batch)
    tokens = int((targets != IGNORE).sum())

    def log_p_reply(condition):  # ln p(reply | condition) per reply (R,)
        per_token = nn.functional.cross_entropy(model.logits(condition, inputs), targets, ignore_index=IGNORE,
                                                reduction="none")
        return -per_token.sum(axis=-1)

    if not model.latent:
        nll = -float(log_p_reply(context).sum().data)
        return nll, nll, tokens
    prior_mu, prior_logvar = model.prior_of(context)
    mu, logvar = model.posterior_of(context, reply)
    weights, elbo = [], 0.0
    for _ in range(samples):
        z = reparameterised(mu, logvar)
        log_likelihood = log_p_reply(mg.concat([context, z], axis=-1))
        weights.append(log_likelihood + log_normal(z, prior_mu, prior_logvar) - log_normal(z, mu, logvar))
        elbo += float(log_likelihood.sum().data) / samples
    kl = float(nn.functional.kl_normal(mu, logvar, prior_mu, prior_logvar, reduction="sum").data)
    estimate = mg.logsumexp(mg.stack(weights), axis=0) - math.log(samples)
    return -float(estimate.sum().data), kl - elbo, tokens


def held_out(model: HRED, dialogues: list[list[dict]], batch_size: int = 100):
    """(batch, its exchanges, the contexts) for the held-out chats, a batch at a time, in eval mode."""
    model.eval()
    with mg.no_grad():
        for start in range(0, len(dialogues), batch_size):
            chats = dialogues[start:start + batch_size]
            batch = encode(chats)
            yield batch, [e for chat in chats for e in chat], model.contexts(batch)[0]


def answer_accuracy(model: HRED, dialogues: list[list[dict]]) -> tuple[int, int]:
    """(right, asked): greedy answers to the questions (VHRED: z at the prior mean), exact match."""
    right = asked = 0
    for _, exchanges, context in held_out(model, dialogues):
        rows = [k for k, e in enumerate(exchanges) if e["kind"].startswith("ask")]
        replies = model.generate(model.condition_from_prior(context[np.array(rows)], mean=True), sample=False)
        right += sum(words(r) in exchanges[k]["valid"] for r, k in zip(replies, rows))
        asked += len(rows)
    return right, asked


def likelihood(model: HRED, dialogues: list[list[dict]], samples: int) -> tuple[float, float]:
    """Held-out (NLL, negative ELBO) per reply token."""
    totals = np.zeros(3)  # NLL, negative ELBO, tokens
    for batch, _, _ in held_out(model, dialogues):
        totals += reply_nll(model, batch, samples)
    return totals[0] / totals[2], totals[1] / totals[2]


def diversity(model: HRED, dialogues: list[list[dict]], draws: int, sample: bool) -> tuple[float, float]:
    """For the open replies (not answers): distinct replies among ``draws`` per
    context (VHRED: each with its own z from the prior), and the share right."""
    distinct = right = contexts = 0
    for _, exchanges, context in held_out(model, dialogues):
        rows = [k for k, e in enumerate(exchanges) if not e["kind"].startswith("ask")]
        replies = model.generate(model.condition_from_prior(context[np.repeat(rows, draws)]), sample=sample)
        texts = [words(r) for r in replies]
        for j, k in enumerate(rows):
            drawn = texts[j * draws:(j + 1) * draws]
            distinct += len(set(drawn))
            right += sum(t in exchanges[k]["valid"] for t in drawn)
        contexts += len(rows)
    return distinct / contexts, right / (contexts * draws)


def data_entropy(dialogues: list[list[dict]]) -> float:
    """The least NLL per reply token any model can reach on these chats: each
    reply is one of its valid forms, uniformly, so Σ ln |valid| / Σ tokens."""
    exchanges = [e for chat in dialogues for e in chat]
    return (sum(math.log(len(e["valid"])) for e in exchanges)
            / sum(len(e["reply"].split()) + 1 for e in exchanges))


def data_diversity(draws: int, choices: int = 4) -> float:
    """Expected distinct values among ``draws`` uniform draws from ``choices``: c·(1 − (1 − 1/c)^draws)."""
    return choices * (1 - (1 - 1 / choices) ** draws)


# -- training -------------------------------------------------------------------------------------

def plot(path: str, curves: dict, accuracy: list[float], latents: tuple | None) -> None:
    """Training curves, held-out answer accuracy by epoch, and for VHRED the
    posterior means of held-out open replies (their two principal axes),
    coloured by the paraphrase the reply used."""
    panels = 3 if latents is not None else 2
    with figure(path, 1, panels, figsize=(5 * panels, 4)) as (fig, axes):
        for name, values in curves.items():
            if values:
                axes[0].plot(values, label=name, lw=1)
        axes[0].set(xlabel="step", ylabel="nats per reply token", yscale="log", title="training")
        axes[0].legend()
        axes[1].plot(range(1, len(accuracy) + 1), accuracy, "o-")
        axes[1].set(xlabel="epoch", ylabel="exact match", ylim=(0, 1.05),
                    title="held-out answers (name / food asked)")
        if latents is not None:
            means, labels = latents
            centred = means - means.mean(axis=0)
            projected = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T
            colours = matplotlib_colours(len(set(labels)))
            for colour, label in zip(colours, sorted(set(labels))):
                chosen = np.array([lab == label for lab in labels])
                axes[2].scatter(*projected[chosen].T, s=6, color=colour, label=label)
            axes[2].set(title="VHRED: posterior mean of z, open replies", xlabel="principal axis 1",
                        ylabel="principal axis 2")
            axes[2].legend(fontsize=6, markerscale=2, loc="center left", bbox_to_anchor=(1.0, 0.5))


def matplotlib_colours(n: int) -> list:
    """n colours from tab20: its ten dark ones first, then the light ones."""
    from matplotlib import colormaps
    return [colormaps["tab20"](2 * (k % 10) + (k // 10) % 2) for k in range(n)]


def paraphrase(reply: str) -> str:
    """Which open-reply template a reply follows (its slot blanked out)."""
    for name in NAMES + FOODS:
        reply = reply.replace(name, "…")
    return reply


def latent_means(model: HRED, dialogues: list[list[dict]]) -> tuple[np.ndarray, list[str]]:
    """Posterior means of z for the held-out open replies, and their templates."""
    model.eval()
    with mg.no_grad():
        batch = encode(dialogues)
        context, reply = model.contexts(batch)
        mu, _ = model.posterior_of(context, reply)
    exchanges = [e for chat in dialogues for e in chat]
    keep = [k for k, e in enumerate(exchanges) if not e["kind"].startswith("ask")]
    return mu.data[keep], [paraphrase(exchanges[k]["reply"]) for k in keep]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--latent", action="store_true", help="VHRED: a Gaussian latent per reply")
    kind.add_argument("--no-context", action="store_true", help="baseline: the reply sees the last utterance only")
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--train-size", type=positive_int, default=2000, help="training chats")
    parser.add_argument("--test-size", type=positive_int, default=300, help="held-out chats")
    parser.add_argument("--epochs", type=positive_int, default=8)
    parser.add_argument("--batch-size", type=positive_int, default=32, help="chats per batch")
    parser.add_argument("--lr", type=positive_float, default=1e-2)
    parser.add_argument("--hidden", type=positive_int, default=64)
    parser.add_argument("--latent-size", type=positive_int, default=8)
    parser.add_argument("--kl-anneal", type=non_negative_float, default=4.0,
                        help="epochs over which β rises from 0 to 1")
    parser.add_argument("--word-dropout", type=probability, default=None,
                        help="chance a decoder input word becomes <unk> (default 0.25 with --latent, else 0)")
    parser.add_argument("--draws", type=positive_int, default=10, help="replies drawn per open context")
    parser.add_argument("--samples", type=positive_int, default=16, help="importance samples for VHRED's NLL")
    parser.add_argument("--plot", default="dialogue.png",
                        help="PNG of training curves, answers by epoch and (VHRED) latent space ('' for none)")
    args = parser.parse_args(argv)
    check_plot(parser, args.plot)
    for name in ("train_size", "test_size", "epochs", "batch_size", "hidden", "latent_size", "draws", "samples"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    word_dropout = (0.25 if args.latent else 0.0) if args.word_dropout is None else args.word_dropout
    if not 0 <= word_dropout < 1:
        parser.error(f"--word-dropout must lie in [0, 1), got {word_dropout}")
    if args.kl_anneal < 0:
        parser.error(f"--kl-anneal must be at least 0 epochs, got {args.kl_anneal}")

    mg.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train = [make_dialogue(rng) for _ in range(args.train_size)]
    test = [make_dialogue(rng) for _ in range(args.test_size)]
    name = "VHRED" if args.latent else "seq2seq (no context)" if args.no_context else "HRED"
    model = HRED(hidden=args.hidden, latent=args.latent_size if args.latent else 0, context=not args.no_context)
    print(f"{name}: {args.train_size} training and {args.test_size} held-out chats, "
          f"{sum(len(c) for c in train) / len(train):.1f} exchanges each; vocabulary {len(WORDS)} words; "
          f"{sum(p.size for p in model.parameters())} parameters")
    optimizer = nn.optim.Adam(model.parameters(), lr=args.lr)
    steps_per_epoch = -(-args.train_size // args.batch_size)
    anneal_steps = max(1.0, args.kl_anneal * steps_per_epoch)
    curves: dict[str, list] = {"loss (reply NLL + β·KL)": [], "reply NLL": [], "KL": []}
    accuracy: list[float] = []
    trained, step = 0.0, 0
    for epoch in range(1, args.epochs + 1):
        model.train()
        start = time.perf_counter()
        for rows in progress(list(nn.batches(np.arange(args.train_size), batch_size=args.batch_size)),
                             f"epoch {epoch}"):
            nll, kl, tokens = model(encode([train[i] for i in rows]), word_dropout)
            beta = min(1.0, step / anneal_steps)
            curves["loss (reply NLL + β·KL)"].append(train_step(optimizer, (nll + beta * kl) / tokens, max_norm=5.0))
            if args.latent:
                curves["reply NLL"].append(nll.item() / tokens)
                curves["KL"].append(kl.item() / tokens)
            step += 1
        trained += time.perf_counter() - start
        right, asked = answer_accuracy(model, test)
        accuracy.append(right / asked)
        print(f"epoch {epoch}: loss {curves['loss (reply NLL + β·KL)'][-1]:.3f}, held-out answers exact match "
              f"{right / asked:.2%} ({right}/{asked}), {trained:.0f} s of training")

    nll, neg_elbo = likelihood(model, test, args.samples)
    print(f"held-out NLL per reply token: {nll:.4f} nats" + (
        f" (importance-sampled, {args.samples} samples; negative ELBO {neg_elbo:.4f})" if args.latent else "")
        + f"; the data's own entropy {data_entropy(test):.4f}")
    print(f"open replies, {args.draws} draws per context (the data: {data_diversity(args.draws):.2f} distinct, "
          "all right):")
    prior = ", z from the prior" if args.latent else ""
    for how, sample in ((f"greedy{prior}", False), (f"sampled (temperature 1){prior}", True)):
        distinct, right_share = diversity(model, test, args.draws, sample)
        print(f"  {how:<45} {distinct:.2f} distinct per context, {right_share:.1%} right")
    if args.plot:
        plot(args.plot, curves, accuracy, latent_means(model, test) if args.latent else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
