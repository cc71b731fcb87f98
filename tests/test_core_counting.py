"""Parameter and FLOP counts of a subnet, by the hand formula."""

from __future__ import annotations

from tiny_models import convert, tiny_model

import bert_ofa as bo



def test_counts_match_hand_formula_for_bert():
    model = convert(tiny_model("bert", num_labels=2))
    sub = bo.SubnetConfig(layers=[1, 2], heads=[2, 3], ffn=[9, 18], hidden=24)
    h, hd, vocab, pos, types, labels, seq = 24, 8, 99, 64, 2, 2, 10
    params = (vocab + pos + types) * h + 2 * h
    macs = 0
    for n, f in zip(sub.heads, sub.ffn):
        a = n * hd
        params += 3 * (h * a + a) + (a * h + h) + 2 * h + (h * f + f) + (f * h + h) + 2 * h
        macs += seq * (3 * h * a + a * h + 2 * h * f) + 2 * seq * seq * a
    params += (h * h + h) + (h * labels + labels)
    macs += h * h + h * labels
    assert bo.count_params(model, sub) == params
    assert bo.count_flops(model, sub, seq_len=seq) == 2 * macs


def test_counting_restores_the_active_subnet():
    model = convert(tiny_model("bert", num_labels=2))
    bo.count_params(model, bo.SubnetConfig(layers=[1, 2], heads=[2, 3], ffn=[9, 18], hidden=24))
    bo.count_flops(model, bo.SubnetConfig(layers=[1, 2], heads=[2, 3], ffn=[9, 18], hidden=24), seq_len=10)
    assert bo.get_active_subnet(model) == bo.largest_subnet(model)


def test_count_params_of_the_supernet_is_all_its_parameters():
    model = convert(tiny_model("bert", num_labels=2))
    full = sum(p.numel() for p in model.parameters())
    assert bo.count_params(model) == full
