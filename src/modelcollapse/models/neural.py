"""A neural (GRU) word-level language model as a per-trial model of the generation loop.

Generation 0 is the real training text and a network trained on it; generation k's text is
``n`` tokens sampled from network k - 1 and network k is a fresh network trained on it (under
``replace``; other workflows pool it with real text, ``modelcollapse.workflows``). This is the
recursive-training setting of Shumailov et al. (Nature 631, 2024), with the per-word forgetting
times of Suresh, Thangaraj and Khandavally (AISTATS 2025) read off the generated text.

The network is an embedding, a GRU (Cho et al. 2014) and a linear read-out over the words,
trained by Adam (Kingma and Ba 2015) on windows of ``context`` tokens, each predicted from a
start-of-window token and the tokens before it in the window, so that

    loss = -(1 / #targets) sum_windows sum_{t < context} log p(x_t | BOS, x_0 .. x_{t-1}).

Text is generated as independent windows of ``context`` tokens started from the same BOS token,
so the generator's law is exactly the one the network was trained to model. Next-token draws
use temperature T and nucleus (top-p) truncation (Holtzman et al. 2020):
p_i ∝ exp(logit_i / T), then only the smallest set of most probable words whose mass reaches
``top_p`` is kept and renormalised.

Reproducibility: every random choice (initial weights, window order, token draws) comes from
the trial's numpy Generator (``modelcollapse.seeding``); torch's own random state is never
used, and torch runs in deterministic mode, so a CPU run is reproducible bit for bit and the
same seed gives the same initial weights on any device. Token draws are made in float64 on the
CPU from the network's probabilities, so CPU and GPU differ only where float32 arithmetic does.

torch is imported only inside the functions that need it: the tokeniser, the validation and
the size estimate work without it.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from modelcollapse.errors import ConfigError
from modelcollapse.families.base import Observable
from modelcollapse.models.base import PerTrialModel

DEVICES = ("auto", "cpu", "cuda")
#: Unique n-gram fractions are reported for these orders.
NGRAM_ORDERS = (1, 2, 3, 4)
METRICS = (
    "perplexity",
    "next_token_entropy",
    "vocab_frac",
    "vocab",
    *(f"distinct_{k}" for k in NGRAM_ORDERS),
)
#: Streams sampled (and held-out windows scored) at once, so memory does not grow with n.
STREAM_BATCH = 512
#: Second key of the stream that trains the generation-0 network (after ``init_seed``).
START_KEY = 0x6E6575
#: Share of the device's memory a configuration may plan to use.
MEMORY_SHARE = 0.5

# Sample pools of the workflows carry, with each token id, the generation that drew it and
# whether it is real text (bits 32-61 and bit 62), so that a pooled training set still knows
# which part is the newest synthetic text (what the forgetting observer counts).
_TOKEN_BITS = 32
_TOKEN_MASK = (1 << _TOKEN_BITS) - 1
_REAL_BIT = 1 << 62
_GEN_MASK = (1 << 30) - 1


def torch_available() -> bool:
    """Whether torch can be imported (the ``torch`` extra)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def require_torch() -> Any:
    """The torch module, or a ConfigError saying how to install it."""
    try:
        import torch
    except ImportError:
        raise ConfigError(
            "model",
            "neural",
            "needs PyTorch: pip install torch==2.13.0, then pip install -e '.[torch]'",
        ) from None
    return torch


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a CUDA GPU is present, else ``cpu``; ``cuda`` needs one."""
    if device not in DEVICES:
        raise ConfigError("device", device, f"one of: {', '.join(DEVICES)}")
    torch = require_torch()
    has_cuda = bool(torch.cuda.is_available())
    if device == "auto":
        device = "cuda" if has_cuda else "cpu"
    if device == "cuda" and not has_cuda:
        raise ConfigError("device", device, "cpu or auto: torch sees no CUDA GPU here")
    if device == "cuda":
        # cuBLAS is deterministic only with a fixed workspace, set before its first use.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return device


# -- the tokeniser -------------------------------------------------------------------------
@dataclass(frozen=True)
class WordVocabulary:
    """Words <-> ids, built from the corpus itself (nothing is downloaded).

    ``words[i]`` is word i; ids follow the corpus order (most frequent first). Text is split by
    the corpus's tokeniser (``modelcollapse.data.tokenize``), so
    ``decode(encode(text)) == " ".join(tokenize(text))`` for any text of the corpus's words.
    """

    words: tuple[str, ...]
    tokenizer: str = "paper"

    @classmethod
    def from_corpus(cls, corpus: Any) -> WordVocabulary:
        return cls(tuple(corpus.vocab), corpus.tokenizer)

    def __len__(self) -> int:
        return len(self.words)

    def _index(self) -> dict[str, int]:
        index = self.__dict__.get("_cache")
        if index is None:
            index = {w: i for i, w in enumerate(self.words)}
            object.__setattr__(self, "_cache", index)
        return index

    def encode(self, text: str | Iterable[str]) -> np.ndarray:
        """Token ids of a text (a string is split by the tokeniser; a list is taken as words)."""
        from modelcollapse.data.tokenize import get_tokenizer

        tokens = get_tokenizer(self.tokenizer)(text) if isinstance(text, str) else list(text)
        index = self._index()
        try:
            return np.fromiter((index[t] for t in tokens), dtype=np.int64, count=len(tokens))
        except KeyError as exc:
            raise ConfigError("text", exc.args[0], "words of the corpus vocabulary") from None

    def decode(self, ids: Iterable[int]) -> str:
        """The words of ``ids`` joined by single spaces."""
        return " ".join(self.words[int(i)] for i in ids)


def split_heldout(ids: np.ndarray, heldout: float) -> tuple[np.ndarray, np.ndarray]:
    """The first 1 - heldout of a token sequence (training) and the rest (held-out real text)."""
    h = float(heldout)
    if not 0.0 < h < 1.0 or not math.isfinite(h):
        raise ConfigError("heldout", heldout, "a fraction strictly between 0 and 1")
    ids = np.asarray(ids, dtype=np.int64)
    cut = int(round(ids.size * (1.0 - h)))
    return ids[:cut], ids[cut:]


# -- pools of tagged tokens --------------------------------------------------------------
def tag(tokens: np.ndarray, generation: int, real: bool) -> np.ndarray:
    """Token ids with the generation that drew them (and a real-text flag) in the high bits."""
    out = np.asarray(tokens, dtype=np.int64) | (np.int64(generation & _GEN_MASK) << _TOKEN_BITS)
    return out | np.int64(_REAL_BIT) if real else out


def untag(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(token ids, generation, is real) of tagged tokens."""
    data = np.asarray(data, dtype=np.int64)
    return data & _TOKEN_MASK, (data >> _TOKEN_BITS) & _GEN_MASK, (data & _REAL_BIT) != 0


# -- the model's state -------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class NeuralState:
    """One trial at one generation.

    ``text`` is the newest text of the training set (the whole of it under replace; the newest
    synthetic sample under accumulate and mix): what the text metrics and the forgetting
    observer count. ``train_tokens`` is the size of the training set, ``net`` the trained
    network (on its device), ``scores`` its held-out perplexity and next-token entropy.
    """

    generation: int
    text: np.ndarray
    train_tokens: int
    net: Any
    scores: tuple[float, float]


def _ngram_fraction(text: np.ndarray, k: int, base: int) -> float:
    """Distinct k-grams / k-grams of a token sequence (NaN when it has none)."""
    if text.size < k:
        return float("nan")
    if k == 1:
        return float(np.unique(text).size / text.size)
    # Mixed-radix codes of the k-grams; Python ints when base**k overflows int64.
    if base**k < 2**63:
        codes = np.zeros(text.size - k + 1, dtype=np.int64)
        for j in range(k):
            codes = codes * base + text[j : text.size - k + 1 + j]
        return float(np.unique(codes).size / codes.size)
    grams = {tuple(text[i : i + k]) for i in range(text.size - k + 1)}
    return len(grams) / (text.size - k + 1)


def estimate_bytes(
    vocab_size: int, embed: int, hidden: int, layers: int, context: int, batch_size: int
) -> int:
    """Planned memory of one trial (bytes): weights with Adam's two moments and the gradient
    (4 copies of float32), a minibatch's activations (logits, their softmax and gradient: 3
    float32 arrays of batch x context x V, plus the GRU's gates) and a sampling batch's float64
    probabilities (3 arrays of STREAM_BATCH x V)."""
    v, e, h = vocab_size, embed, hidden
    gru = 3 * (e * h + h * h + 2 * h) + (layers - 1) * 3 * (2 * h * h + 2 * h)
    params = (v + 1) * e + gru + h * v + v
    activations = batch_size * context * (3 * v + 8 * h * layers + e)
    sampling = STREAM_BATCH * (3 * v * 2 + 8 * h * layers)
    return 4 * (4 * params + activations) + 4 * sampling


def device_memory(device: str) -> int:
    """Total memory of the device in bytes (the CPU's physical memory for ``cpu``)."""
    if device == "cuda":
        torch = require_torch()
        return int(torch.cuda.get_device_properties(0).total_memory)
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


_SETTINGS_LOCK = threading.Lock()
_SETTINGS_USERS = 0
_SETTINGS_SAVED: tuple[bool, int] = (False, 1)


@contextlib.contextmanager
def _torch_settings(torch: Any, threads: int) -> Iterator[None]:
    """Deterministic algorithms and a fixed number of CPU threads while our models run.

    Both switches are process-wide, and trials may run on several threads at once, so the first
    model to enter sets them and the last to leave puts back what was there. A fixed thread
    count also fixes the order of float reductions, hence bit-reproducible CPU results on any
    machine; one thread is the default because on a busy 2-core machine two spinning OpenMP
    threads per network made training about ten times slower (docs/neural.md).
    """
    global _SETTINGS_USERS, _SETTINGS_SAVED
    with _SETTINGS_LOCK:
        if _SETTINGS_USERS == 0:
            _SETTINGS_SAVED = (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads())
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.set_num_threads(threads)
        _SETTINGS_USERS += 1
    try:
        yield
    finally:
        with _SETTINGS_LOCK:
            _SETTINGS_USERS -= 1
            if _SETTINGS_USERS == 0:
                torch.use_deterministic_algorithms(_SETTINGS_SAVED[0])
                torch.set_num_threads(_SETTINGS_SAVED[1])


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(name, value, f"an integer >= {low}")
    return int(value)


def _check_float(name: str, value: Any, low: float, high: float, allowed: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(name, value, allowed)
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ConfigError(name, value, allowed) from None
    if not math.isfinite(x) or not low < x <= high:
        raise ConfigError(name, value, allowed)
    return x


@dataclass(frozen=True, eq=False)
class NeuralLM(PerTrialModel):
    """Recursive training of a GRU word language model started from real text.

    Parameters
    ----------
    train : token ids of the real training text (generation 0's text).
    heldout : token ids of held-out real text (perplexity and entropy are measured on it).
    vocab_size : V, the size of the softmax (ids are < V); default max id + 1.
    embed, hidden, layers : embedding width, GRU width and depth.
    context : tokens per training window and per generated window.
    epochs : passes over the training set per generation.
    batch_size : windows per Adam step.
    lr : Adam's learning rate.
    temperature, top_p : the sampler (T > 0; 0 < top_p <= 1, 1 keeps every word).
    device : ``auto``, ``cpu`` or ``cuda``.
    threads : torch's CPU threads while this model runs (results depend on it only through
        float rounding; run trials in parallel with ``workers`` instead).
    init_seed : seed of the generation-0 network (the front end passes the run's seed).
    """

    name: ClassVar[str] = "neural"
    #: Generation 0 is the model fitted to the corpus: its samples are already synthetic.
    start_is_fitted: ClassVar[bool] = True

    train: Any = None
    heldout: Any = None
    vocab_size: int | None = None
    embed: int = 32
    hidden: int = 64
    layers: int = 1
    context: int = 32
    epochs: int = 3
    batch_size: int = 16
    lr: float = 1e-2
    temperature: float = 1.0
    top_p: float = 1.0
    device: str = "cpu"
    threads: int = 1
    init_seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, low in (
            ("embed", 1),
            ("hidden", 1),
            ("layers", 1),
            ("context", 1),
            ("epochs", 1),
            ("batch_size", 1),
            ("threads", 1),
        ):
            object.__setattr__(self, name, _check_int(name, getattr(self, name), low))
        object.__setattr__(
            self, "lr", _check_float("lr", self.lr, 0.0, 10.0, "a learning rate in (0, 10]")
        )
        object.__setattr__(
            self,
            "temperature",
            _check_float("temperature", self.temperature, 0.0, 100.0, "a number in (0, 100]"),
        )
        object.__setattr__(
            self, "top_p", _check_float("top_p", self.top_p, 0.0, 1.0, "a fraction in (0, 1]")
        )
        train = np.asarray(self.train if self.train is not None else [], dtype=np.int64)
        heldout = np.asarray(self.heldout if self.heldout is not None else [], dtype=np.int64)
        for label, ids in (("train", train), ("heldout", heldout)):
            if ids.ndim != 1 or (ids.size and ids.min() < 0):
                raise ConfigError(label, f"shape {ids.shape}", "a sequence of token ids >= 0")
        # A window needs `context` tokens; fewer training tokens than one window cannot train.
        for label, ids in (("corpus (training part)", train), ("corpus (held-out part)", heldout)):
            if ids.size < self.context:
                raise ConfigError(
                    label,
                    f"{ids.size} tokens",
                    f"at least context = {self.context} tokens (a smaller --context or a "
                    "larger corpus)",
                )
        top = int(max(train.max(), heldout.max())) + 1
        v = top if self.vocab_size is None else _check_int("vocab_size", self.vocab_size, 1)
        if v < top:
            raise ConfigError("vocab_size", v, f"larger than every token id (>= {top})")
        object.__setattr__(self, "vocab_size", v)
        object.__setattr__(self, "train", train)
        object.__setattr__(self, "heldout", heldout)
        device = resolve_device(self.device)
        need, have = self.planned_bytes(), device_memory(device)
        if need > MEMORY_SHARE * have:
            raise ConfigError(
                "model size",
                f"about {need / 2**30:.2f} GiB per trial (V={v}, embed={self.embed}, hidden="
                f"{self.hidden}, layers={self.layers}, context={self.context}, batch_size="
                f"{self.batch_size})",
                f"at most {MEMORY_SHARE * have / 2**30:.1f} GiB, half the {device}'s memory: "
                "lower --hidden, --embed, --context or --batch-size",
            )
        object.__setattr__(self, "_device", device)
        object.__setattr__(self, "init_seed", _check_int("init_seed", self.init_seed, 0))
        object.__setattr__(self, "_lock", threading.Lock())
        # The starting vocabulary is ids 0 .. max(train): the words the forgetting observer
        # follows (ids above it occur only in the held-out text).
        counts = np.bincount(train, minlength=v)
        object.__setattr__(self, "_m", int(train.max()) + 1)
        object.__setattr__(self, "_vocab0", int(np.count_nonzero(counts)))

    # -- sizes -----------------------------------------------------------------------------
    @property
    def n_tokens(self) -> int:
        """Tokens of the real training text (the default n per generation)."""
        return int(self.train.size)

    @property
    def resolved_device(self) -> str:
        return self._device  # type: ignore[attr-defined]

    def planned_bytes(self) -> int:
        return estimate_bytes(
            int(self.vocab_size),
            self.embed,
            self.hidden,
            self.layers,
            self.context,
            self.batch_size,
        )

    def check_n(self, n: int) -> None:
        if n < 1:
            raise ConfigError("n", n, "at least one token per generation")

    # -- the network -----------------------------------------------------------------------
    def _build(self, rng: np.random.Generator) -> Any:
        torch = require_torch()
        v, e, h, depth = int(self.vocab_size), self.embed, self.hidden, self.layers

        class GRULM(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.emb = torch.nn.Embedding(v + 1, e)  # row v is the window-start token
                self.gru = torch.nn.GRU(e, h, num_layers=depth, batch_first=True)
                self.out = torch.nn.Linear(h, v)

            def forward(self, x: Any, state: Any = None) -> Any:
                y, state = self.gru(self.emb(x), state)
                return self.out(y), state

        net = GRULM()
        # Weights drawn from the trial's stream (torch's defaults' laws: N(0, 1) embeddings,
        # U(-1/sqrt(h), 1/sqrt(h)) elsewhere), so they are the same on every device.
        with torch.no_grad():
            for pname, p in net.named_parameters():
                if pname.startswith("emb"):
                    values = rng.standard_normal(tuple(p.shape))
                else:
                    bound = 1.0 / math.sqrt(h)
                    values = rng.uniform(-bound, bound, tuple(p.shape))
                p.copy_(torch.from_numpy(values.astype(np.float32)))
        return net.to(self.resolved_device)

    def _windows(self, tokens: np.ndarray, offset: int) -> np.ndarray:
        """Non-overlapping windows of ``context`` tokens starting at ``offset``, (w, context)."""
        c = self.context
        usable = (tokens.size - offset) // c
        if usable < 1:
            return tokens[:c][None, :]
        return tokens[offset : offset + usable * c].reshape(usable, c)

    def _inputs(self, torch: Any, windows: np.ndarray) -> Any:
        bos = np.full((windows.shape[0], 1), int(self.vocab_size), dtype=np.int64)
        x = np.concatenate([bos, windows[:, :-1]], axis=1)
        return torch.from_numpy(x).to(self.resolved_device)

    def fit(self, tokens: np.ndarray, rng: np.random.Generator) -> Any:
        """A fresh network trained on ``tokens`` by Adam for ``epochs`` passes."""
        torch = require_torch()
        tokens = np.asarray(tokens, dtype=np.int64)
        with _torch_settings(torch, self.threads):
            net = self._build(rng)
            opt = torch.optim.Adam(net.parameters(), lr=self.lr)
            net.train()
            for _ in range(self.epochs):
                # A random phase each epoch, so window boundaries differ between passes.
                offset = int(rng.integers(min(self.context, max(1, tokens.size - self.context))))
                windows = self._windows(tokens, offset)
                order = rng.permutation(windows.shape[0])
                for i in range(0, order.size, self.batch_size):
                    batch = windows[order[i : i + self.batch_size]]
                    logits, _ = net(self._inputs(torch, batch))
                    target = torch.from_numpy(batch).to(self.resolved_device)
                    loss = torch.nn.functional.cross_entropy(
                        logits.reshape(-1, logits.shape[-1]), target.reshape(-1)
                    )
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
            net.eval()
        return net

    def score(self, net: Any, tokens: np.ndarray | None = None) -> tuple[float, float]:
        """(perplexity, mean next-token entropy in nats) of the network on ``tokens`` (default:
        the held-out real text), over its windows of ``context`` tokens.

        perplexity = exp(-(1/N) sum_t log p(x_t | window prefix)); entropy = (1/N) sum_t
        H(p(. | window prefix)), the network's own distribution (temperature 1).
        """
        torch = require_torch()
        tokens = self.heldout if tokens is None else np.asarray(tokens, dtype=np.int64)
        windows = self._windows(tokens, 0)
        nll = ent = 0.0
        count = 0
        with _torch_settings(torch, self.threads), torch.no_grad():
            for i in range(0, windows.shape[0], STREAM_BATCH):
                batch = windows[i : i + STREAM_BATCH]
                logits, _ = net(self._inputs(torch, batch))
                logp = torch.log_softmax(logits.double(), dim=-1)
                target = torch.from_numpy(batch).to(self.resolved_device)
                nll -= float(logp.gather(-1, target[..., None]).sum())
                ent -= float((logp.exp() * logp).sum())
                count += batch.size
        return math.exp(nll / count), ent / count

    def _probabilities(self, logits: Any) -> np.ndarray:
        """float64 next-token probabilities after temperature and top-p, (streams, V)."""
        z = logits.double().cpu().numpy() / self.temperature
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        if self.top_p < 1.0:
            order = np.argsort(-p, axis=1, kind="stable")
            sorted_p = np.take_along_axis(p, order, axis=1)
            # Keep a word when the mass of the more probable ones is still below top_p (so the
            # most probable word is always kept).
            keep_sorted = np.cumsum(sorted_p, axis=1) - sorted_p < self.top_p
            keep = np.zeros_like(keep_sorted)
            np.put_along_axis(keep, order, keep_sorted, axis=1)
            p = np.where(keep, p, 0.0)
            p /= p.sum(axis=1, keepdims=True)
        return p

    def sample_text(self, net: Any, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` tokens: ceil(n / context) windows, each generated from the window-start token."""
        torch = require_torch()
        c = self.context
        streams = -(-n // c)
        out = np.empty((streams, c), dtype=np.int64)
        with _torch_settings(torch, self.threads), torch.no_grad():
            for first in range(0, streams, STREAM_BATCH):
                s = min(STREAM_BATCH, streams - first)
                x = torch.full((s, 1), int(self.vocab_size), dtype=torch.long)
                x = x.to(self.resolved_device)
                state = None
                for t in range(c):
                    logits, state = net(x, state)
                    p = self._probabilities(logits[:, -1])
                    # Inverse-CDF draws from the trial's stream: one uniform per token.
                    cdf = np.cumsum(p, axis=1)
                    u = rng.random(s) * cdf[:, -1]
                    nxt = np.minimum((cdf < u[:, None]).sum(axis=1), p.shape[1] - 1)
                    out[first : first + s, t] = nxt
                    x = torch.from_numpy(nxt[:, None]).to(self.resolved_device)
        return out.ravel()[:n]

    # -- the PerTrialModel interface --------------------------------------------------------
    def start(self) -> NeuralState:
        """Generation 0: the real text and the network trained on it, shared by every trial (as
        every trial of a family starts from the same real model). It is trained once, on first
        use, from the stream keyed by ``(init_seed, START_KEY)``."""
        with self._lock:  # type: ignore[attr-defined]
            state = self.__dict__.get("_start")
            if state is None:
                rng = np.random.default_rng(np.random.SeedSequence([self.init_seed, START_KEY]))
                net = self.fit(self.train, rng)
                state = NeuralState(0, self.train, self.n_tokens, net, self.score(net))
                object.__setattr__(self, "_start", state)
        return state

    def __getstate__(self) -> dict[str, Any]:
        # A run plan may be pickled to another process: the lock cannot travel, the trained
        # start state need not.
        return {k: v for k, v in self.__dict__.items() if k not in ("_lock", "_start")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        object.__setattr__(self, "_lock", threading.Lock())

    def generate(self, state: NeuralState, n: int, rng: np.random.Generator) -> np.ndarray:
        return tag(self.sample_text(state.net, n, rng), state.generation + 1, real=False)

    def refit(self, data: np.ndarray, rng: np.random.Generator) -> NeuralState:
        return self._fit_tagged(np.asarray(data, dtype=np.int64).ravel(), rng)

    def _fit_tagged(self, data: np.ndarray, rng: np.random.Generator) -> NeuralState:
        tokens, gens, real = untag(data)
        generation = int(gens.max())
        newest = gens == generation
        fresh = newest & ~real
        text = tokens[fresh] if np.any(fresh) else tokens[newest]
        net = self.fit(tokens, rng)
        return NeuralState(generation, text, int(tokens.size), net, self.score(net))

    # Sample path of the workflows (accumulate, mix): pools are tagged token arrays (1, size).
    def sample(self, state: NeuralState, n: int, rng: np.random.Generator) -> np.ndarray:
        if state.generation == 0:
            # Real data is real text: a window of n tokens of the training text at a random
            # phase (wrapping around), not the generation-0 network's output.
            start = int(rng.integers(self.train.size))
            idx = (start + np.arange(n)) % self.train.size
            return tag(self.train[idx], 1, real=True)[None, :]
        return self.draw(state, n, rng)[None, :]

    def fit_samples(self, samples: np.ndarray) -> NeuralState:
        # The workflows give no generator here; a stream keyed by the training data's bytes is
        # still a function of (seed, cell, trial) alone, since the data is.
        digest = hashlib.sha256(np.ascontiguousarray(samples).tobytes()).digest()
        rng = np.random.default_rng(np.random.SeedSequence(int.from_bytes(digest[:16], "big")))
        return self._fit_tagged(np.asarray(samples, dtype=np.int64).ravel(), rng)

    def observables(self) -> tuple[Observable, ...]:
        docs = {
            "perplexity": "perplexity of the held-out real text",
            "next_token_entropy": "mean entropy of the next-token distribution on held-out text",
            "vocab_frac": "distinct words of the text / distinct words of the real text",
            "vocab": "distinct words of the text",
            **{f"distinct_{k}": f"distinct {k}-grams / {k}-grams of the text" for k in NGRAM_ORDERS},
        }
        return tuple(Observable(m, doc=docs[m]) for m in METRICS)

    def values(self, state: NeuralState) -> list[float]:
        text = state.text
        vocab = int(np.count_nonzero(self.symbol_counts(state)))
        base = int(self.vocab_size)
        return [
            state.scores[0],
            state.scores[1],
            vocab / self._vocab0,  # type: ignore[attr-defined]
            float(vocab),
            *(_ngram_fraction(text, k, base) for k in NGRAM_ORDERS),
        ]

    def symbol_counts(self, state: NeuralState) -> np.ndarray:
        """Counts of the starting vocabulary's words in the trial's newest text, (1, m): what the
        forgetting observer reads."""
        m = self._m  # type: ignore[attr-defined]
        return np.bincount(state.text, minlength=self.vocab_size)[None, :m]

    def describe(self) -> dict[str, Any]:
        return {
            "family": self.name,
            "architecture": "GRU word language model",
            "n_tokens": self.n_tokens,
            "heldout_tokens": int(self.heldout.size),
            "vocab_size": int(self.vocab_size),
            "embed": self.embed,
            "hidden": self.hidden,
            "layers": self.layers,
            "context": self.context,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "device": self.resolved_device,
            "threads": self.threads,
        }


def parameters_of(net: Any) -> Sequence[np.ndarray]:
    """The network's weights as numpy arrays (for tests and inspection)."""
    return [p.detach().cpu().numpy().copy() for p in net.parameters()]
