"""Sequence to sequence with attention (Luong et al. 2015), from nn's parts.

    Encoder           embedding -> (bi)LSTM or GRU over the source (with lengths)
    AttentionDecoder  embedding -> LSTM/GRU -> attention over the encoder outputs
                      -> attentional state h̃ = tanh(W_c [c; h]) -> logits
    Seq2Seq           the two, the teacher-forced loss, greedy decoding, beam search

Teacher forcing without input feeding runs the decoder layer over the whole
target at once and attends from every step in one batched product; with
input feeding (h̃ of step t joins the input of step t+1) and when decoding,
the decoder goes one step at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import minigrad as mg
from minigrad import Tensor

from . import functional as F
from ._checks import check_flag, check_index, check_lengths, check_positive_int
from .attention import Attention
from .layers import Embedding, Linear
from .module import Module
from .recurrent import GRU, LSTM

CELLS = {"lstm": LSTM, "gru": GRU}


def _cell(name: str):
    if name not in CELLS:
        raise ValueError(f"cell must be one of {sorted(CELLS)}, got {name!r}")
    return CELLS[name]


def _as_ids(x, name: str) -> np.ndarray:
    x = np.asarray(x.data if isinstance(x, Tensor) else x)
    if x.dtype.kind not in "iu" or x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of integer token ids (batch, time), "
                         f"got dtype {x.dtype} and shape {x.shape}")
    return x


class Encoder(Module):
    """Embedding and a (bi)directional LSTM/GRU. Returns the outputs (the
    attention memory), the padding mask, and the final state reshaped for a
    decoder whose hidden size is D·H: per layer, both directions side by side."""

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = True, cell: str = "lstm", dropout: float = 0.0, padding_idx: int = 0,
                 rng: np.random.Generator | None = None):
        super().__init__()
        self.embedding = Embedding(vocab_size, embedding_dim, padding_idx=padding_idx, rng=rng)
        self.rnn = _cell(cell)(embedding_dim, hidden_size, num_layers, batch_first=True, dropout=dropout,
                               bidirectional=bidirectional, rng=rng)

    def forward(self, src, lengths) -> tuple[Tensor, np.ndarray, Any]:
        src = _as_ids(src, "src")
        lengths = check_lengths(lengths, *src.shape, name="src_lengths", owner="Encoder: ")
        memory, final = self.rnn(self.embedding(src), lengths=lengths)
        mask = np.arange(src.shape[1])[None, :] < lengths[:, None]
        return memory, mask, self._bridge(final)

    def _bridge(self, final):
        """(L·D, B, H) -> (L, B, D·H), for each state tensor."""
        layers, directions = self.rnn.num_layers, 2 if self.rnn.bidirectional else 1

        def join(s: Tensor) -> Tensor:
            if directions == 1:
                return s
            batch, hidden = s.shape[1], s.shape[2]
            return s.reshape(layers, directions, batch, hidden).permute(0, 2, 1, 3).reshape(
                layers, batch, directions * hidden)

        return tuple(join(s) for s in final) if isinstance(final, tuple) else join(final)


class AttentionDecoder(Module):
    """Embedding, LSTM/GRU, attention over the encoder's outputs, and the
    attentional state h̃ = tanh(W_c [c; h]) that predicts the next token.
    With ``attention=None`` it is a plain decoder: h̃ = h (Sutskever et al. 2014)."""

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_size: int, memory_size: int,
                 attention: str | None = "general", cell: str = "lstm", num_layers: int = 1,
                 input_feeding: bool = False,
                 dropout: float = 0.0, padding_idx: int = 0, rng: np.random.Generator | None = None):
        super().__init__()
        self.input_feeding = check_flag("AttentionDecoder", "input_feeding", input_feeding)
        self.embedding = Embedding(vocab_size, embedding_dim, padding_idx=padding_idx, rng=rng)
        rnn_input = embedding_dim + (hidden_size if input_feeding else 0)
        self.rnn = _cell(cell)(rnn_input, hidden_size, num_layers, batch_first=True, dropout=dropout, rng=rng)
        if attention is not None:
            self.attention = Attention(hidden_size, memory_size, attention, rng=rng)
            self.combine = Linear(memory_size + hidden_size, hidden_size, bias=False, rng=rng)
        self.out = Linear(hidden_size, vocab_size, rng=rng)

    def _project_keys(self, memory: Tensor):
        return self.attention.project_keys(memory) if "attention" in self._modules else None

    def _attend(self, h: Tensor, memory: Tensor, mask: np.ndarray, keys: Tensor | None):
        """h̃ = tanh(W_c [c; h]) and the attention weights (h and None without attention)."""
        if "attention" not in self._modules:
            return h, None
        context, weights = self.attention(h, memory, mask, projected_keys=keys)
        return mg.tanh(self.combine(mg.concat([context, h], axis=-1))), weights

    def forward(self, tgt_in, state, memory: Tensor, mask: np.ndarray) -> tuple[Tensor, Tensor]:
        """Teacher forcing: logits (B, T, V) and attention weights (B, T, S)."""
        tgt_in = _as_ids(tgt_in, "tgt_in")
        if tgt_in.shape[0] != memory.shape[0] or tgt_in.shape[1] == 0:
            raise ValueError(f"AttentionDecoder: tgt_in must be ({memory.shape[0]}, time >= 1) to match the source "
                             f"batch, got shape {tgt_in.shape}")
        keys = self._project_keys(memory)
        embedded = self.embedding(tgt_in)
        if not self.input_feeding:
            h, _ = self.rnn(embedded, h0=state)
            attentional, weights = self._attend(h, memory, mask, keys)
            return self.out(attentional), weights
        decoding = self.start(state, memory, mask)
        outputs, weights = [], []
        for x in mg.unbind(embedded, axis=1):
            attentional, w = self._advance(x, decoding)
            outputs.append(attentional)
            weights.append(w)
        return self.out(mg.stack(outputs, axis=1)), (None if weights[0] is None else mg.stack(weights, axis=1))

    # -- one step at a time (decoding, input feeding) -------------------------------------
    def start(self, state, memory: Tensor, mask: np.ndarray) -> dict:
        """What step() carries from one step to the next (a dict of arrays and
        Tensors with the batch first, so beam search can reorder it)."""
        batch = memory.shape[0]
        if state is None:  # a zero initial state, as forward(h0=None) starts from
            zeros = Tensor(np.zeros((self.rnn.num_layers, batch, self.rnn.hidden_size), dtype=memory.dtype))
            state = zeros if self.rnn.cell.states == 1 else (zeros,) * self.rnn.cell.states
        return {"states": self.rnn.split_states(state), "memory": memory, "mask": mask,
                "keys": self._project_keys(memory),
                "previous": Tensor(np.zeros((batch, self.rnn.hidden_size), dtype=memory.dtype)),
                "stepper": self.rnn.stepper(one_graph=True)}  # (a new one for every forward and decoding)

    def _advance(self, x: Tensor, decoding: dict) -> tuple[Tensor, Tensor]:
        if self.input_feeding:
            x = mg.concat([x, decoding["previous"]], axis=-1)
        h, decoding["states"] = decoding["stepper"](x, decoding["states"])
        attentional, weights = self._attend(h, decoding["memory"], decoding["mask"], decoding["keys"])
        decoding["previous"] = attentional
        return attentional, weights

    def step(self, tokens: np.ndarray, decoding: dict) -> tuple[Tensor, Tensor]:
        """Logits (B, V) for the next token after ``tokens`` (B,), and the attention weights."""
        attentional, weights = self._advance(self.embedding(np.asarray(tokens)), decoding)
        return self.out(attentional), weights


class Seq2Seq(Module):
    """Encoder-decoder with attention; token ids pad_id, bos_id, eos_id are shared by both vocabularies."""

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, embedding_dim: int = 32, hidden_size: int = 64,
                 attention: str | None = "general", cell: str = "lstm", num_layers: int = 1, bidirectional: bool = True,
                 input_feeding: bool = False, dropout: float = 0.0, pad_id: int = 0, bos_id: int = 1,
                 eos_id: int = 2, rng: np.random.Generator | None = None):
        super().__init__()
        tgt_vocab_size = check_positive_int("Seq2Seq: tgt_vocab_size", tgt_vocab_size)
        shared = min(check_positive_int("Seq2Seq: src_vocab_size", src_vocab_size), tgt_vocab_size)
        # (an eos_id outside the target vocabulary is never predicted: decoding would never stop)
        self.pad_id = check_index("pad_id", pad_id, shared, "Seq2Seq: ")
        self.bos_id = check_index("bos_id", bos_id, tgt_vocab_size, "Seq2Seq: ")
        self.eos_id = check_index("eos_id", eos_id, tgt_vocab_size, "Seq2Seq: ")
        for name, value, why in (("bos_id", bos_id, "the padding row of the embeddings is never trained"),
                                  ("eos_id", eos_id, "the loss ignores pad targets: the end would never be learned")):
            if value == pad_id:
                raise ValueError(f"Seq2Seq: {name} must differ from pad_id ({why}), got {name} = pad_id = {pad_id}")
        self.encoder = Encoder(src_vocab_size, embedding_dim, hidden_size, num_layers, bidirectional, cell, dropout,
                               pad_id, rng)
        decoder_hidden = hidden_size * (2 if bidirectional else 1)
        self.decoder = AttentionDecoder(tgt_vocab_size, embedding_dim, decoder_hidden, decoder_hidden, attention, cell,
                                        num_layers, input_feeding, dropout, pad_id, rng)

    def forward(self, src, src_lengths, tgt_in) -> tuple[Tensor, Tensor]:
        """Teacher-forced logits (B, T, V) and attention weights (B, T, S)."""
        memory, mask, state = self.encoder(src, src_lengths)
        return self.decoder(tgt_in, state, memory, mask)

    def loss(self, src, src_lengths, tgt_in, tgt_out) -> Tensor:
        """Mean cross-entropy over the target tokens that are not padding."""
        tgt_in, tgt_out = _as_ids(tgt_in, "tgt_in"), _as_ids(tgt_out, "tgt_out")
        if tgt_in.shape != tgt_out.shape:
            raise ValueError(f"tgt_in and tgt_out must have the same shape, got {tgt_in.shape} and {tgt_out.shape}")
        logits, _ = self(src, src_lengths, tgt_in)
        return F.cross_entropy(logits, tgt_out, ignore_index=self.pad_id)

    def _start(self, src, src_lengths) -> dict:
        memory, mask, state = self.encoder(src, src_lengths)
        return self.decoder.start(state, memory, mask)

    @mg.no_grad()
    def greedy_decode(self, src, src_lengths, max_len: int) -> tuple[list[list[int]], np.ndarray]:
        """The most likely next token at every step, until eos or ``max_len``.
        Returns the token lists (without eos) and the attention weights (B, steps, S): one row per step
        run, ``max_len`` or fewer when every sentence has ended (None without attention)."""
        max_len = check_positive_int("greedy_decode: max_len", max_len)
        decoding = self._start(src, src_lengths)
        batch = decoding["memory"].shape[0]
        tokens = np.full(batch, self.bos_id)
        done = np.zeros(batch, dtype=bool)
        out, attention = [[] for _ in range(batch)], []
        for _ in range(max_len):
            logits, weights = self.decoder.step(tokens, decoding)
            tokens = mg.log_softmax(logits, axis=-1).data.argmax(axis=-1)  # (what beam search ranks: a tie there
            # -- two logits one ulp apart round to one log-probability -- is a tie here, so width 1 is greedy)
            if weights is not None:
                attention.append(weights.data)
            for b in np.flatnonzero(~done & (tokens != self.eos_id)):
                out[b].append(int(tokens[b]))
            done |= tokens == self.eos_id
            if done.all():
                break
        return out, (np.stack(attention, axis=1) if attention else None)

    @mg.no_grad()
    def beam_search(self, src, src_lengths, beam_width: int = 4, max_len: int = 50,
                    length_penalty: float = 1.0) -> tuple[list[list[int]], np.ndarray]:
        """Batched beam search (see :func:`beam_search`; ``length_penalty`` 1 ranks
        finished beams by their per-token average log-probability); returns
        the best token list per sentence and its total log-probability."""
        beam_width, max_len, length_penalty = _check_beam(beam_width, max_len, length_penalty)  # before the encoder
        decoding = self._start(src, src_lengths)
        stepper = decoding.pop("stepper")

        def step(tokens, state):
            state = {**state, "stepper": stepper}
            logits, _ = self.decoder.step(tokens, state)  # advances state["states"] (and "previous")
            del state["stepper"]
            return mg.log_softmax(logits, axis=-1).data, state

        return beam_search(step, decoding, decoding["memory"].shape[0], beam_width, max_len, self.bos_id,
                           self.eos_id, length_penalty)


def _take(state: Any, rows: np.ndarray) -> Any:
    """``state`` with its batch rows picked by ``rows`` (arrays and Tensors
    inside dicts, lists and tuples)."""
    if isinstance(state, dict):
        return {k: _take(v, rows) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_take(v, rows) for v in state)
    if isinstance(state, Tensor):
        return state[rows]
    if isinstance(state, np.ndarray):
        return state[rows]
    return state


def _check_beam(beam_width, max_len, length_penalty) -> tuple[int, int, float]:
    """beam_width and max_len as ints, if both are positive integers, and length_penalty as a float, if it is
    a finite real number (else ValueError/TypeError naming the one that is not: a NaN penalty made every
    score NaN, and the ranking silently the first beam's)."""
    if isinstance(length_penalty, (bool, np.bool_)) or not isinstance(length_penalty, (int, float, np.integer,
                                                                                       np.floating)):
        raise TypeError(f"beam_search: length_penalty must be a real number, got {type(length_penalty).__name__} "
                        f"{length_penalty!r}")
    if not np.isfinite(length_penalty):
        raise ValueError(f"beam_search: length_penalty must be finite, got {length_penalty!r}")
    return (check_positive_int("beam_search: beam_width", beam_width),
            check_positive_int("beam_search: max_len", max_len), float(length_penalty))


def beam_search(step: Callable, state: Any, batch_size: int, beam_width: int, max_len: int, bos_id: int,
                eos_id: int, length_penalty: float = 1.0) -> tuple[list[list[int]], np.ndarray]:
    """Keep the ``beam_width`` best partial sequences of every sentence, all
    sentences at once.

    ``step(tokens (N,), state) -> (log_probs (N, V) array, state)`` scores the
    next token for N = batch·beam rows; ``state`` holds arrays/Tensors with
    those rows first (it is reordered as beams are kept or dropped). A beam
    that has emitted eos is finished: it keeps its score and only repeats eos.
    At the end each sentence's beams are ranked by total log-probability
    divided by length^length_penalty, the length counting eos: 1 (the
    default, here and in ``Seq2Seq.beam_search``) ranks by the per-token
    average, so longer outputs are not penalised merely for having more
    terms; 0 ranks by the raw sums (the most probable sequence, which favours
    short ones). Returns the best sequences (without eos) and their total
    log-probabilities."""
    beam_width, max_len, length_penalty = _check_beam(beam_width, max_len, length_penalty)
    B, K = batch_size, beam_width
    state = _take(state, np.repeat(np.arange(B), K))
    tokens = np.full(B * K, bos_id)
    scores = np.tile(np.r_[0.0, np.full(K - 1, -np.inf)], B)  # at first only one beam per sentence is live
    history = np.zeros((B * K, 0), dtype=np.int64)
    finished = np.zeros(B * K, dtype=bool)
    lengths = np.zeros(B * K, dtype=np.int64)
    for _ in range(max_len):
        log_probs, state = step(tokens, state)
        vocab = log_probs.shape[1]
        eos_id = check_index("eos_id", eos_id, vocab, "beam_search: ")  # (a token step scores)
        log_probs = np.where(finished[:, None], -np.inf, log_probs)
        log_probs[finished, eos_id] = 0.0
        total = (scores[:, None] + log_probs).reshape(B, K * vocab)
        best = np.argsort(-total, axis=1, kind="stable")[:, :K]
        rows = (np.arange(B)[:, None] * K + best // vocab).ravel()
        tokens = (best % vocab).ravel()
        scores = np.take_along_axis(total, best, axis=1).ravel()
        history = np.concatenate([history[rows], tokens[:, None]], axis=1)
        lengths = lengths[rows] + ~finished[rows]
        finished = finished[rows] | (tokens == eos_id)
        state = _take(state, rows)
        if finished.all():
            break
    with np.errstate(invalid="ignore"):
        ranked = np.where(np.isfinite(scores), scores / np.maximum(lengths, 1) ** length_penalty, -np.inf)
    choice = np.arange(B) * K + ranked.reshape(B, K).argmax(axis=1)
    sequences = []
    for row in choice:
        seq = history[row].tolist()
        sequences.append(seq[:seq.index(eos_id)] if eos_id in seq else seq)
    return sequences, scores[choice]
