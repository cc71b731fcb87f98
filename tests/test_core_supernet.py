"""The elastic supernet: exact parity with the original, reload, extraction, gradients, depth, attention maps, errors."""

from __future__ import annotations

import pytest
import torch
from tiny_models import ARCHS, HALF_WIDTH, convert, output_tensor, tiny_batch, tiny_mlm_config, tiny_model, tiny_unsupported_model

import bert_ofa as bo



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


def test_eager_attention_maps_follow_the_heads():
    model = convert(tiny_model("bert", attn="eager"))
    bo.set_active_subnet(model, bo.SubnetConfig([0, 1, 2, 3], [1, 2, 3, 4], [37] * 4, 32))
    out = model(**tiny_batch(), output_attentions=True)
    assert [a.shape[1] for a in out.attentions] == [1, 2, 3, 4]


def test_unsupported_model_types_are_named():
    with pytest.raises(ValueError, match="unsupported model type 'gpt2'.*bert, roberta, xlm-roberta, electra"):
        bo.Convert(bo.supernet()).convert(tiny_unsupported_model())


def test_a_plain_model_is_not_a_supernet():
    with pytest.raises(ValueError, match="not a supernet"):
        bo.set_active_subnet(tiny_model("bert"), bo.SubnetConfig([0], [4], [37], 32))


def test_a_supernet_is_not_converted_twice():
    model = convert(tiny_model("bert"))
    with pytest.raises(ValueError, match="already a supernet"):
        convert(model)


def test_elastic_hidden_needs_a_known_head():
    from transformers import BertForMaskedLM

    torch.manual_seed(0)
    with pytest.raises(ValueError, match="elastic hidden size is not supported for BertForMaskedLM"):
        bo.Convert(bo.supernet(hidden_size=[16])).convert(BertForMaskedLM(tiny_mlm_config()))


def test_other_heads_stay_exact_and_extract():
    from transformers import BertForMaskedLM

    torch.manual_seed(0)
    mlm = BertForMaskedLM(tiny_mlm_config()).eval()
    batch = tiny_batch()
    with torch.no_grad():
        want = mlm(**batch).logits
        convert(mlm, HALF_WIDTH)
        assert (mlm(**batch).logits - want).abs().max() <= 1e-6
        bo.set_active_subnet(mlm, bo.subnet_from_mults(mlm, 0.5))
        small = bo.extract_subnet(mlm)
        assert (small(**batch).logits - mlm(**batch).logits).abs().max() <= 1e-5
