"""Character-level tasks for the readout experiment (numpy only).

- `grammar_text`: the embedded default, English-like text sampled from a
  small stochastic grammar (needs no download, deterministic from a seed).
- `read_text`: a text file (the paper used Tolstoy's *War and Peace*).
- `CharCorpus`: the text encoded as integer ids over its character
  vocabulary, split into a training part and a held-out validation part (the
  last ``val_fraction`` of the text), with deterministic batch samplers.
"""

from __future__ import annotations

import io
import os
import stat
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

__all__ = ["CharCorpus", "grammar_text", "read_text", "make_corpus"]

# A small probabilistic grammar: nested noun phrases, relative clauses and
# agreement-free verbs give structure at several time scales (word spelling,
# phrase order, sentence and paragraph breaks) for a character model to learn.
_WORDS = {
    "DET": ["the", "a", "every", "no", "one", "that"],
    "ADJ": ["old", "young", "quiet", "red", "tired", "clever", "small", "dark", "happy", "strange"],
    "NOUN": ["prince", "soldier", "horse", "letter", "river", "house", "general", "count", "window", "army",
             "garden", "princess", "officer", "road", "bridge"],
    "NAME": ["pierre", "natasha", "andrew", "mary", "nicholas", "sonya", "anna"],
    "VERB_T": ["saw", "loved", "found", "took", "answered", "followed", "remembered", "crossed", "wrote"],
    "VERB_I": ["laughed", "slept", "waited", "smiled", "fell", "wept", "spoke", "left"],
    "PREP": ["near", "under", "behind", "with", "across", "beside"],
    "ADV": ["slowly", "again", "quickly", "silently", "at once", "that night"],
    "CONJ": ["and", "but", "while", "because"],
    "REL": ["who", "that"],
}


def _choice(rng: np.random.Generator, items: list[str]) -> str:
    return items[int(rng.integers(len(items)))]


def _noun_phrase(rng: np.random.Generator, depth: int) -> list[str]:
    if rng.random() < 0.3:
        return [_choice(rng, _WORDS["NAME"])]
    out = [_choice(rng, _WORDS["DET"])]
    while rng.random() < 0.35:
        out.append(_choice(rng, _WORDS["ADJ"]))
    out.append(_choice(rng, _WORDS["NOUN"]))
    r = rng.random()
    if depth < 2 and r < 0.2:
        out += [_choice(rng, _WORDS["PREP"])] + _noun_phrase(rng, depth + 1)
    elif depth < 2 and r < 0.3:
        out += [_choice(rng, _WORDS["REL"])] + _verb_phrase(rng, depth + 1)
    return out


def _verb_phrase(rng: np.random.Generator, depth: int) -> list[str]:
    if rng.random() < 0.6:
        out = [_choice(rng, _WORDS["VERB_T"])] + _noun_phrase(rng, depth + 1)
    else:
        out = [_choice(rng, _WORDS["VERB_I"])]
    if rng.random() < 0.25:
        out.append(_choice(rng, _WORDS["ADV"]))
    return out


def _sentence(rng: np.random.Generator) -> str:
    words = _noun_phrase(rng, 0) + _verb_phrase(rng, 0)
    while rng.random() < 0.3:
        words += [","] if rng.random() < 0.5 else []
        words += [_choice(rng, _WORDS["CONJ"])] + _noun_phrase(rng, 1) + _verb_phrase(rng, 1)
    text = " ".join(words).replace(" ,", ",")
    return text[0].upper() + text[1:] + ("?" if rng.random() < 0.1 else ".")


def grammar_text(n_chars: int = 200_000, seed: int = 0) -> str:
    """About ``n_chars`` characters of text from the embedded stochastic grammar (deterministic in ``seed``)."""
    if n_chars < 1000:
        raise InputError(f"n_chars: expected at least 1000 characters, got {n_chars}.")
    rng = np.random.default_rng(seed)
    parts: list[str] = []
    size = 0
    while size < n_chars:
        paragraph = " ".join(_sentence(rng) for _ in range(int(rng.integers(2, 7))))
        parts.append(paragraph + "\n\n")
        size += len(paragraph) + 2
    return "".join(parts)[:n_chars]


def read_text(path: str | os.PathLike[str], max_chars: int | None = None) -> str:
    """The text of a UTF-8 file (the first ``max_chars`` characters when given; undecodable bytes replaced).

    Only a regular file is read (checked on the opened file: a FIFO or a device never blocks).
    """
    path = os.fspath(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise InputError(f"text (--text): cannot open {path!r} ({exc.strerror or exc}); pass the path of a "
                         "plain-text file.") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InputError(f"text (--text): {path!r} is not a regular file; pass the path of a plain-text file.")
    with os.fdopen(fd, "rb") as raw:
        try:
            with io.TextIOWrapper(raw, encoding="utf-8", errors="replace") as fh:
                text = fh.read() if max_chars is None else fh.read(max_chars)
        except OSError as exc:
            raise InputError(f"text (--text): cannot read {path!r} ({exc.strerror or exc}).") from None
    if len(text) < 1000:
        raise InputError(f"text (--text): {path!r} holds only {len(text)} characters; a character model needs more "
                         "(>= 1000).")
    return text


@dataclass(frozen=True)
class CharCorpus:
    """A text encoded as character ids, split into training and validation parts.

    Attributes:
        name: a short label of the source.
        vocab: the characters, in id order.
        train: ``(n_train,)`` int64 ids.
        val: ``(n_val,)`` int64 ids (the last part of the text).
    """

    name: str
    vocab: str
    train: np.ndarray
    val: np.ndarray

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def train_batch(self, rng: np.random.Generator, batch: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        """Random training windows: inputs ``(batch, length)`` and next-character targets ``(batch, length)``."""
        return _windows(self.train, rng.integers(0, self.train.size - length - 1, size=batch), length)

    def val_windows(self, count: int, length: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """``count`` fixed validation windows (evenly spread, deterministic) and their targets."""
        if self.val.size < length + 2:
            raise InputError(f"val: the validation text ({self.val.size} chars) is shorter than a window ({length}).")
        starts = np.linspace(0, self.val.size - length - 2, count).astype(np.int64)
        return _windows(self.val, starts, length)


def _windows(ids: np.ndarray, starts: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.arange(length)
    idx = starts[:, None] + offsets[None, :]
    return ids[idx], ids[idx + 1]


def make_corpus(text: str, name: str, val_fraction: float = 0.1) -> CharCorpus:
    """Encode ``text`` over its sorted character set; the last ``val_fraction`` is held out."""
    if not 0.0 < val_fraction < 0.5:
        raise InputError(f"val_fraction: expected a fraction in (0, 0.5), got {val_fraction}.")
    vocab = "".join(sorted(set(text)))
    lookup = np.zeros(max(map(ord, vocab)) + 1, dtype=np.int64)
    lookup[[ord(ch) for ch in vocab]] = np.arange(len(vocab))
    ids = lookup[np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)]
    split = int(len(ids) * (1.0 - val_fraction))
    return CharCorpus(name=name, vocab=vocab, train=ids[:split], val=ids[split:])
