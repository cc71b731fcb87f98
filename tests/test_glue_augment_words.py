"""Word-replacement augmentation for distillation: neighbours, replacement, the dataset view, label-free rows."""

from __future__ import annotations

import copy

import datasets
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tiny_models import HALF_WIDTH, convert, tiny_model

import bert_ofa as bo
from bert_ofa import OFA, DistillConfig, RunConfig
from bert_ofa.training.distill import label_loss
from bert_ofa.app.args import OFAModelArguments
from bert_ofa.app.pipeline import augmented
from glue_tasks.augment import SwappedPairs
from glue_tasks.augment_words import UNLABELED, DistillAugmented, WordNeighbours

# 0-2 specials, words on two clusters (cat/dog/cow near each other, red/blue far from them), a ## piece
TOKENS = ["[PAD]", "[CLS]", "[SEP]", "cat", "dog", "cow", "red", "blue", "##s", ",", "pig"]


def _embeddings():
    e = torch.zeros(len(TOKENS), 3)
    e[3], e[4], e[5], e[10] = torch.tensor([1.0, 0.1, 0]), torch.tensor([1.0, 0.2, 0]), torch.tensor([1.0, 0.4, 0]), \
        torch.tensor([1.0, 0.3, 0])
    e[6], e[7] = torch.tensor([0, 0, 1.0]), torch.tensor([0, 0.2, 1.0])
    e[8] = torch.tensor([1.0, 0.15, 0])  # the ## piece sits among the animals but is never a candidate
    e[[0, 1, 2, 9]] = torch.tensor([1.0, 0.12, 0])  # specials and punctuation too
    return e


def test_neighbours_are_nearest_whole_words_by_cosine():
    nb = WordNeighbours(_embeddings(), TOKENS, used_ids=[1, 3, 6, 8, 9], k=2)
    assert sorted(nb.table) == [3, 6]  # only the used words: no specials, pieces or punctuation
    assert list(nb.table[3]) == [4, 10]  # dog, pig: nearest first, never cat itself or "##s"
    assert list(nb.table[6])[0] == 7
    with pytest.raises(ValueError, match="k .* must be >= 1"):
        WordNeighbours(_embeddings(), TOKENS, [3], k=0)
    with pytest.raises(ValueError, match="give the teacher's input embeddings and its tokenizer"):
        WordNeighbours(_embeddings()[:5], TOKENS, [3])


def test_replace_touches_only_one_piece_words_and_keeps_the_length():
    nb = WordNeighbours(_embeddings(), TOKENS, used_ids=range(len(TOKENS)), k=2)
    ids = [1, 3, 6, 8, 9, 4, 2]  # [CLS] cat red ##s , dog [SEP]: "reds" is two pieces, so red stays
    out = nb.replace(ids, 1.0, np.random.default_rng(0))
    assert len(out) == len(ids)
    assert out[0] == 1 and out[2:5] == [6, 8, 9] and out[6] == 2
    assert out[1] in (4, 10) and out[5] in (3, 10)  # each word became one of its neighbours
    assert nb.replace(ids, 1e-9, np.random.default_rng(0)) == ids
    a, b = (nb.replace(ids, 0.5, np.random.default_rng(7)) for _ in range(2))
    assert a == b  # a function of the generator


def _rows(n=40):
    g = np.random.default_rng(0)
    ids = [[1, *g.choice([3, 4, 5, 6, 7, 10], size=6).tolist(), 2] for _ in range(n)]
    return datasets.Dataset.from_dict({"input_ids": ids, "attention_mask": [[1] * 8] * n, "label": [i % 2 for i in range(n)]})


def test_distill_augmented_appends_label_free_copies_drawn_per_epoch():
    rows = _rows()
    nb = WordNeighbours(_embeddings(), TOKENS, range(len(TOKENS)), k=2)
    view = DistillAugmented(rows, nb, copies=2, prob=0.5, seed=3)
    assert len(view) == 3 * len(rows)
    assert [view[i] for i in range(len(rows))] == [rows[i] for i in range(len(rows))]  # originals as they are
    aug = [view[j] for j in range(len(rows), len(view))]
    assert all(r["label"] == UNLABELED for r in aug)
    assert all(r["attention_mask"] == rows[j % len(rows)]["attention_mask"] for j, r in enumerate(aug))
    changed = sum(r["input_ids"] != rows[j % len(rows)]["input_ids"] for j, r in enumerate(aug))
    assert changed > 0.8 * len(aug)  # 6 words at 0.5 each: nearly every copy differs
    assert aug[0]["input_ids"] != aug[len(rows)]["input_ids"]  # the two copies of row 0 differ
    again = DistillAugmented(rows, nb, copies=2, prob=0.5, seed=3)
    assert [again[j] for j in range(len(rows), len(view))] == aug  # reproducible: resume, every rank
    view.set_epoch(1)
    assert [view[j] for j in range(len(rows), len(view))] != aug  # re-drawn each epoch
    view.set_epoch(0)
    assert [view[j] for j in range(len(rows), len(view))] == aug
    with pytest.raises(IndexError):
        view[len(view)]


def test_distill_augmented_passes_the_epoch_on():
    rows = _rows()
    nb = WordNeighbours(_embeddings(), TOKENS, range(len(TOKENS)), k=2)
    swapped = SwappedPairs(rows, rows.map(lambda r: {"label": 1 - r["label"]}), prob=0.5, seed=1)
    view = DistillAugmented(swapped, nb, copies=1)
    view.set_epoch(3)
    ref = SwappedPairs(rows, rows, 0.5, seed=1)
    assert not np.array_equal(swapped.is_swapped, ref.is_swapped)
    ref.set_epoch(3)
    assert np.array_equal(swapped.is_swapped, ref.is_swapped)  # the orders of epoch 3


def test_distill_augmented_checks_its_settings():
    rows = _rows()
    nb = WordNeighbours(_embeddings(), TOKENS, range(len(TOKENS)), k=2)
    with pytest.raises(ValueError, match="copies must be >= 1"):
        DistillAugmented(rows, nb, copies=0)
    with pytest.raises(ValueError, match=r"prob .* must be in \[0, 1\]"):
        DistillAugmented(rows, nb, prob=-0.1)
    with pytest.raises(ValueError, match="needs a WordNeighbours table"):
        DistillAugmented(rows, None, prob=0.3)


def test_augment_arguments_are_checked():
    with pytest.raises(ValueError, match="distill_augment must be >= 0"):
        OFAModelArguments(model_name_or_path="m", distill_augment=-1)
    with pytest.raises(ValueError, match=r"augment_word_prob in \[0, 1\]"):
        OFAModelArguments(model_name_or_path="m", augment_word_prob=1.5)


def test_prob_zero_gives_unchanged_teacher_only_copies_without_a_neighbour_table():
    rows = _rows()
    args = OFAModelArguments(model_name_or_path="m", distill_augment=2, augment_word_prob=0.0)
    # no teacher or tokenizer: with nothing to replace, augmented() must not build a neighbour table
    view = augmented(rows, None, None, args, seed=3)
    assert isinstance(view, DistillAugmented) and len(view) == 3 * len(rows)
    for j in range(len(rows), len(view)):
        assert view[j] == {**rows[j % len(rows)], "label": UNLABELED}
    assert augmented(rows, None, None, OFAModelArguments(model_name_or_path="m"), seed=3) is rows  # off: as it is


@pytest.mark.parametrize("regression", [False, True])
def test_label_loss_skips_unlabeled_rows(regression):
    torch.manual_seed(0)
    logits = torch.randn(6, 1 if regression else 3, requires_grad=True)
    labels = torch.tensor([0.5, UNLABELED, 2.0, UNLABELED, 4.5, 1.0]) if regression else \
        torch.tensor([2, UNLABELED, 0, UNLABELED, 1, 1])
    keep = labels != UNLABELED
    want = F.mse_loss(logits.view(-1)[keep], labels[keep]) if regression else F.cross_entropy(logits[keep], labels[keep])
    assert torch.equal(label_loss(logits, labels, regression), want)
    none = label_loss(logits, torch.full_like(labels, UNLABELED), regression)
    none.backward()
    assert none.item() == 0.0 and torch.equal(logits.grad, torch.zeros_like(logits))  # no label: no pull


def test_ofa_label_loss_ignores_augmented_rows_and_distils_all():
    teacher = tiny_model("bert")
    student = convert(copy.deepcopy(teacher), HALF_WIDTH)
    ofa = OFA(student, RunConfig(n_epochs=[[1], [2]]), DistillConfig(teacher_model=teacher, lambda_label=1.0))
    ofa.set_epoch(1)
    ofa.set_active_subnet(bo.subnet_from_mults(student, 0.5, 1.0))
    g = torch.Generator().manual_seed(0)
    batch = {"input_ids": torch.randint(5, 99, (4, 9), generator=g), "attention_mask": torch.ones(4, 9, dtype=torch.long)}
    labels = torch.tensor([1, UNLABELED, 0, UNLABELED])
    student_out, teacher_out = ofa(**batch, labels=labels)
    assert torch.equal(student_out.loss, F.cross_entropy(student_out.logits[[0, 2]], labels[[0, 2]]))
    ofa.calc_distill_loss()
    assert ofa.last_losses["label"] == pytest.approx(student_out.loss.item())
    full, _ = ofa(**batch, labels=torch.tensor([1, 1, 0, 0]))  # every row labelled: the model's own loss
    assert torch.allclose(full.loss, F.cross_entropy(full.logits, torch.tensor([1, 1, 0, 0])))


@pytest.mark.parametrize("problem", ["single_label_classification", "regression", "multi_label_classification"])
def test_ofa_label_loss_matches_the_models_own(problem):
    """With every row labelled, OFA's label loss is the model's own loss; multi-label keeps the model's."""
    model = tiny_model("bert", num_labels=1 if problem == "regression" else 3).train()
    model.config.problem_type = problem
    batch = {"input_ids": torch.randint(5, 99, (4, 9), generator=torch.Generator().manual_seed(0))}
    labels = {"single_label_classification": torch.tensor([2, 0, 1, 1]),
              "regression": torch.tensor([0.5, 2.0, 4.5, 1.0]),
              "multi_label_classification": torch.tensor([[1.0, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 0]])}[problem]
    torch.manual_seed(1)
    want = model(**batch, labels=labels).loss
    ofa = OFA(convert(model, HALF_WIDTH), RunConfig(n_epochs=[[1], [2]]))
    torch.manual_seed(1)  # the same dropout masks
    out = ofa(**batch, labels=labels)
    assert torch.allclose(out.loss, want, rtol=1e-6, atol=0)
    loss = ofa.calc_distill_loss()
    assert set(ofa.last_loss_parts) == {"label"} and ofa.last_loss_parts["label"].requires_grad is False
    assert ofa.last_losses == {"label": pytest.approx(loss.item())}
