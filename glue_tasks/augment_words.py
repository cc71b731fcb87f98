"""TinyBERT-style word replacement: extra inputs for distillation, labelled by the teacher.

Small GLUE tasks (MRPC's 3.7k pairs) give a student few inputs to match its teacher on.
TinyBERT and DynaBERT distil on an augmented set: each word replaced, with some chance, by a
near word. TinyBERT draws the candidates from BERT's masked-LM head and GloVe; neither is
here (MiniLM ships no MLM head), so the candidates are the word's nearest neighbours by cosine
in the teacher's own input-embedding table ("said" -> "says", "told", "stated"; "monday" ->
"tuesday"). A replacement may change the meaning (neighbours include antonyms), so augmented
rows carry no label (``UNLABELED``): they are trained on the teacher's outputs only, which
describe whatever the new input means.

Works on token ids, so the tokenized rows need no new tokenization: a position is replaced
only if it holds a whole word of one piece (alphabetic, not followed by a ``##`` piece) and
the replacement is one as well, so lengths and masks stay as they are.
``DistillAugmented`` draws every augmented row from ``(seed, epoch, row)``: reproducible,
resumable and the same on every rank. With ``prob=0`` the copies are the rows themselves, still
teacher-only: the control that gives as many steps and teacher targets without new inputs.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import torch

from bert_ofa.training.distill import UNLABELED  # the label of an augmented row: distillation only


class WordNeighbours:
    """For each one-piece word in ``used_ids``, its ``k`` nearest one-piece words by embedding cosine."""

    def __init__(self, embeddings: torch.Tensor, tokens: Sequence[str], used_ids: Iterable[int], k: int = 15):
        if k < 1:
            raise ValueError(f"k (neighbours per word) must be >= 1, got {k}")
        if embeddings.shape[0] != len(tokens):
            raise ValueError(f"embeddings has {embeddings.shape[0]} rows but the vocabulary {len(tokens)} tokens: "
                             "give the teacher's input embeddings and its tokenizer")
        self.is_piece = np.array([t.startswith("##") for t in tokens])
        words = np.array([t.isalpha() for t in tokens])  # no [CLS]/[unused0], punctuation or ## pieces
        cand = torch.from_numpy(np.flatnonzero(words))
        used = torch.tensor(sorted(i for i in set(used_ids) if words[i]), dtype=torch.long)
        e = torch.nn.functional.normalize(embeddings.detach().float(), dim=-1)
        self.table: dict[int, np.ndarray] = {}
        for chunk in used.split(1024):  # (chunk, vocab words) cosine, in pieces to bound memory
            sim = e[chunk] @ e[cand].T
            sim[cand.unsqueeze(0) == chunk.unsqueeze(1)] = -2.0  # never the word itself
            top = sim.topk(min(k, len(cand) - 1), dim=-1).indices
            for i, row in zip(chunk.tolist(), cand[top].numpy()):
                self.table[i] = row

    @classmethod
    def from_model(cls, model: torch.nn.Module, tokenizer: Any, rows: Iterable[dict], k: int = 15) -> "WordNeighbours":
        """Neighbours from ``model``'s input embeddings for the words in ``rows`` (tokenized)."""
        used = {i for r in rows for i in r["input_ids"]}
        tokens = tokenizer.convert_ids_to_tokens(list(range(model.get_input_embeddings().weight.shape[0])))
        return cls(model.get_input_embeddings().weight, tokens, used, k)

    def replace(self, input_ids: Sequence[int], prob: float, rng: np.random.Generator) -> list[int]:
        """``input_ids`` with each replaceable word swapped, with chance ``prob``, for a random neighbour."""
        ids = list(input_ids)
        for i, t in enumerate(ids):
            cands = self.table.get(t)
            if cands is None or (i + 1 < len(ids) and self.is_piece[ids[i + 1]]):
                continue  # not a word, or the first piece of a longer one
            if rng.random() < prob:
                ids[i] = int(cands[rng.integers(len(cands))])
        return ids


class DistillAugmented:
    """``dataset`` followed by ``copies`` augmented versions of each of its rows, labelled ``UNLABELED``.

    Row ``j`` (``j >= len(dataset)``) is row ``j % len(dataset)`` with words replaced, drawn anew
    each epoch (``set_epoch``, passed on to ``dataset`` too, e.g. a ``SwappedPairs``). ``prob=0``
    replaces nothing (``neighbours`` may then be None): the steps of augmentation without its inputs.
    """

    def __init__(self, dataset: Sequence[dict], neighbours: WordNeighbours | None, copies: int = 1,
                 prob: float = 0.3, seed: int = 42):
        if copies < 1:
            raise ValueError(f"copies must be >= 1 (0 means no augmentation: use the dataset itself), got {copies}")
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"prob (chance a word is replaced) must be in [0, 1], got {prob}")
        if neighbours is None and prob > 0:
            raise ValueError(f"prob={prob} replaces words, so it needs a WordNeighbours table (got None); "
                             "build one with WordNeighbours.from_model, or set prob=0 for unchanged copies")
        self.dataset, self.neighbours, self.copies, self.prob, self.seed = dataset, neighbours, copies, prob, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.dataset) * (1 + self.copies)

    def __getitem__(self, j: int) -> dict:
        j = int(j)
        if not 0 <= j < len(self):
            raise IndexError(f"row {j} of {len(self)}")
        n = len(self.dataset)
        row = dict(self.dataset[j % n])
        if j < n:
            return row
        if self.prob > 0:
            rng = np.random.default_rng([self.seed, self.epoch, j])
            row["input_ids"] = self.neighbours.replace(row["input_ids"], self.prob, rng)
        row["label"] = UNLABELED
        return row
