"""The elastic supernet: exact parity, extraction, counts, gradients, errors."""

from __future__ import annotations

import json

import pytest
import torch
from tiny_models import ARCHS, output_tensor, tiny_batch, tiny_model

import bert_ofa as bo

SPACE = dict(expand_ratio=[0.25, 0.5, 0.75], hidden_size=[16, 24], depth=[2, 3])


def convert(model, **space):
    return bo.Convert(bo.supernet(**(space or SPACE))).convert(model)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("head", ["cls", "base"])
@pytest.mark.parametrize("arch", ARCHS)
def test_largest_subnet_equals_original(arch, head, attn):
    model = tiny_model(arch, head, attn=attn)
    batch = tiny_batch()
    with torch.no_grad():
        expected = output_tensor(model(**batch))
        convert(model)
        got = output_tensor(model(**batch))
    assert bo.get_active_subnet(model) == bo.largest_subnet(model)
    assert (got - expected).abs().max().item() <= 1e-6


@pytest.mark.parametrize("arch", ARCHS)
def test_state_dict_keys_unchanged_and_reload(arch, tmp_path):
    model = tiny_model(arch)
    keys = list(model.state_dict())
    convert(model)
    assert list(model.state_dict()) == keys
    model.save_pretrained(tmp_path)  # a converted model saves as the stock model
    fresh = type(model).from_pretrained(tmp_path).eval()
    convert(fresh)
    sub = bo.sample_subnet(model, seed=3)
    bo.set_active_subnet(model, sub)
    bo.set_active_subnet(fresh, sub)
    batch = tiny_batch()
    with torch.no_grad():
        assert torch.equal(output_tensor(model(**batch)), output_tensor(fresh(**batch)))


@pytest.mark.parametrize("head", ["cls", "base"])
@pytest.mark.parametrize("arch", ARCHS)
def test_extracted_subnets_match_supernet(arch, head):
    model = convert(tiny_model(arch, head))
    batch = tiny_batch()
    subnets = [bo.smallest_subnet(model)] + [bo.sample_subnet(model, seed) for seed in range(8)]
    for sub in subnets:
        bo.set_active_subnet(model, sub)
        small = bo.extract_subnet(model)
        with torch.no_grad():
            want = output_tensor(model(**batch))
            got = output_tensor(small(**batch))
        assert got.shape == want.shape
        assert (got - want).abs().max().item() <= 1e-5, sub
        assert sum(p.numel() for p in small.parameters()) == bo.count_params(model, sub)
        assert not any(isinstance(m, bo.core.elastic.ElasticLinear) for m in small.modules())
        assert bo.get_active_subnet(model) == sub  # extraction leaves the supernet as it was


def test_extracted_model_is_physically_smaller():
    model = convert(tiny_model("bert"))
    sub = bo.SubnetConfig(layers=[0, 3], heads=[1, 3], ffn=[9, 28], hidden=16)
    small = bo.extract_subnet(model, sub)
    layers = small.bert.encoder.layer
    assert len(layers) == 2
    assert layers[0].attention.self.query.weight.shape == (8, 16)  # 1 head x head_dim 8, hidden 16
    assert layers[1].attention.output.dense.weight.shape == (16, 24)
    assert layers[0].intermediate.dense.weight.shape == (9, 16)
    assert small.bert.embeddings.word_embeddings.weight.shape[1] == 16
    assert small.classifier.weight.shape == (3, 16)
    assert small.config.num_hidden_layers == 2 and small.config.hidden_size == 16
    assert small.config.ofa_subnet == sub.to_dict()
    # the weights are copies of the leading slices of the supernet's
    full = model.bert.encoder.layer[3].intermediate.dense.weight
    assert torch.equal(layers[1].intermediate.dense.weight, full[:28, :16])
    assert layers[1].intermediate.dense.weight.data_ptr() != full.data_ptr()


@pytest.mark.parametrize("arch", ["bert", "roberta", "distilbert", "electra-projected"])
def test_backward_reaches_exactly_the_active_slices(arch):
    model = convert(tiny_model(arch)).train()
    sub = bo.SubnetConfig(layers=[0, 2], heads=[2, 1], ffn=[18, 9], hidden=24)
    bo.set_active_subnet(model, sub)
    out = model(**tiny_batch(), labels=torch.tensor([0, 1, 2]))
    out.loss.backward()
    state = bo.core.convert.get_state(model)
    for ref in state.slots:
        module = model.get_submodule(ref.path)
        grad = module.weight.grad
        if ref.layer is not None and ref.layer not in sub.layers:
            assert grad is None or not grad.any(), ref.path
            continue
        active, _ = module.active_weight_bias()
        mask = torch.zeros_like(module.weight, dtype=torch.bool)
        mask[tuple(slice(0, n) for n in active.shape)] = True
        assert not grad[~mask].any(), f"{ref.path}: gradient outside the active slice"
        assert grad[mask].abs().sum() > 0, f"{ref.path}: no gradient inside the active slice"


def test_depth_runs_only_the_kept_layers():
    model = convert(tiny_model("bert", "base"))
    sub = bo.subnet_from_mults(model, width_mult=1.0, depth_mult=0.5)
    assert sub.layers == [0, 2]
    bo.set_active_subnet(model, sub)
    out = model(**tiny_batch(), output_hidden_states=True)
    assert len(out.hidden_states) == 3  # embeddings + 2 layers


def test_dynabert_shortcuts_and_depth_rule():
    assert bo.depth_layers(12, 6) == [0, 2, 4, 6, 8, 10]
    assert bo.depth_layers(12, 9) == [0, 1, 2, 4, 5, 6, 8, 9, 10]
    assert bo.depth_layers(6, 3) == [0, 2, 4]
    assert bo.depth_layers(4, 4) == [0, 1, 2, 3]
    model = convert(tiny_model("bert"), expand_ratio=[0.5], depth_mult=[0.5])
    sub = bo.subnet_from_mults(model, 0.5, 0.5)
    assert sub == bo.SubnetConfig(layers=[0, 2], heads=[2, 2], ffn=[18, 18], hidden=32)
    with pytest.raises(bo.SubnetError, match="heads"):
        bo.subnet_from_mults(model, 0.75)  # 3 heads are not in this space


def test_space_resolution():
    model = convert(tiny_model("bert"), expand_ratio=[0.5], num_heads=[1], intermediate_size=[5],
                    hidden_size=[16], depth_mult=[0.5])
    space = bo.get_search_space(model)
    assert space.heads == (1, 2, 4) and space.ffn == (5, 18, 37)
    assert space.hidden == (16, 32) and space.depth == (2, 4)
    assert bo.smallest_subnet(model) == bo.SubnetConfig([0, 2], [1, 1], [5, 5], 16)
    with pytest.raises(ValueError, match="num_heads choices \\[8\\] exceed"):
        convert(tiny_model("bert"), num_heads=[8])
    with pytest.raises(ValueError, match="expand_ratio"):
        bo.supernet(expand_ratio=[1.5])
    with pytest.raises(ValueError, match="not both"):
        bo.supernet(expand_ratio=[0.5], width_mult=[0.5])


def test_sampling_is_seeded_and_inside_the_space():
    model = convert(tiny_model("bert"))
    space = bo.get_search_space(model)
    a = [bo.sample_subnet(model, seed) for seed in range(20)]
    assert a == [bo.sample_subnet(model, seed) for seed in range(20)]
    assert len({json.dumps(s.to_dict()) for s in a}) > 10
    for sub in a:
        sub.validate(space)
    assert {s.depth for s in a} == set(space.depth)


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
    assert bo.get_active_subnet(model) == bo.largest_subnet(model)  # counting restores the active subnet
    full = sum(p.numel() for p in model.parameters())
    assert bo.count_params(model) == full


def test_subnet_json_round_trip(tmp_path):
    sub = bo.SubnetConfig(layers=[0, 2, 3], heads=[1, 4, 2], ffn=[9, 37, 18], hidden=24)
    assert bo.SubnetConfig.from_json(sub.to_json()) == sub
    path = tmp_path / "subnet.json"
    sub.to_json(path)
    assert bo.SubnetConfig.from_json(path) == sub
    assert json.loads(path.read_text()) == sub.to_dict()
    space = bo.SearchSpace.resolve(bo.supernet(expand_ratio=[0.5]), num_layers=4, num_heads=4, head_dim=8,
                                   intermediate_size=37, hidden_size=32)
    assert bo.SearchSpace.from_dict(json.loads(json.dumps(space.to_dict()))) == space


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(layers=[0, 1], heads=[4], ffn=[37, 37], hidden=32), "heads needs one value per kept layer"),
        (dict(layers=[1, 0], heads=[4, 4], ffn=[37, 37], hidden=32), "strictly increasing"),
        (dict(layers=[], heads=[], ffn=[], hidden=32), "non-empty"),
        (dict(layers=[0], heads=[4], ffn=[37], hidden=0), "hidden must be a positive integer"),
    ],
)
def test_malformed_subnets(kwargs, match):
    with pytest.raises(bo.SubnetError, match=match):
        bo.SubnetConfig(**kwargs)


@pytest.mark.parametrize(
    "sub, match",
    [
        (bo.SubnetConfig([0, 1, 2, 3], [3, 4, 4, 4], [37] * 4, 32), r"heads values \[3\] .* allowed: \[2, 4\]"),
        (bo.SubnetConfig([0, 1, 2, 3], [4] * 4, [20] * 4, 32), r"ffn values \[20\]"),
        (bo.SubnetConfig([0, 1, 2, 3], [4] * 4, [37] * 4, 20), r"hidden 20 .* allowed: \[32\]"),
        (bo.SubnetConfig([0], [4], [37], 32), r"allowed depths: \[2, 4\]"),
        (bo.SubnetConfig([0, 7], [4, 4], [37, 37], 32), "indices must be < 4"),
    ],
)
def test_subnets_outside_the_space(sub, match):
    model = convert(tiny_model("bert"), expand_ratio=[0.5], depth=[2])
    with pytest.raises(bo.SubnetError, match=match):
        bo.set_active_subnet(model, sub)
    with pytest.raises(bo.SubnetError):
        bo.SubnetConfig.from_json('{"layers": [0]}')


def test_unsupported_models_and_misuse():
    from transformers import GPT2Config, GPT2Model

    gpt2 = GPT2Model(GPT2Config(n_embd=32, n_layer=2, n_head=4, vocab_size=50))
    with pytest.raises(ValueError, match="unsupported model type 'gpt2'.*bert, roberta, xlm-roberta, electra"):
        bo.Convert(bo.supernet()).convert(gpt2)
    with pytest.raises(ValueError, match="not a supernet"):
        bo.set_active_subnet(tiny_model("bert"), bo.SubnetConfig([0], [4], [37], 32))
    model = convert(tiny_model("bert"))
    with pytest.raises(ValueError, match="already a supernet"):
        convert(model)


def test_elastic_hidden_needs_known_heads_other_heads_stay_exact():
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    config = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=37, max_position_embeddings=64)
    with pytest.raises(ValueError, match="elastic hidden size is not supported for BertForMaskedLM"):
        bo.Convert(bo.supernet(hidden_size=[16])).convert(BertForMaskedLM(config))
    mlm = BertForMaskedLM(config).eval()
    batch = tiny_batch()
    with torch.no_grad():
        want = mlm(**batch).logits
        bo.Convert(bo.supernet(expand_ratio=[0.5])).convert(mlm)
        assert (mlm(**batch).logits - want).abs().max() <= 1e-6
        bo.set_active_subnet(mlm, bo.subnet_from_mults(mlm, 0.5))
        small = bo.extract_subnet(mlm)
        assert (small(**batch).logits - mlm(**batch).logits).abs().max() <= 1e-5


def test_eager_attention_maps_follow_the_heads():
    model = convert(tiny_model("bert", attn="eager"))
    bo.set_active_subnet(model, bo.SubnetConfig([0, 1, 2, 3], [1, 2, 3, 4], [37] * 4, 32))
    out = model(**tiny_batch(), output_attentions=True)
    assert [a.shape[1] for a in out.attentions] == [1, 2, 3, 4]
