"""Search spaces and subnets: the DynaBERT depth rule and shortcuts, resolving a space, seeded sampling, JSON round trips, malformed and out-of-space subnets."""

from __future__ import annotations

import json

import pytest
from tiny_models import convert, tiny_model

import bert_ofa as bo



def test_depth_rule_keeps_evenly_spread_layers():
    assert bo.depth_layers(12, 6) == [0, 2, 4, 6, 8, 10]
    assert bo.depth_layers(12, 9) == [0, 1, 2, 4, 5, 6, 8, 9, 10]
    assert bo.depth_layers(6, 3) == [0, 2, 4]
    assert bo.depth_layers(4, 4) == [0, 1, 2, 3]


def test_dynabert_shortcuts_name_a_subnet_of_the_space():
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


def test_space_choices_beyond_the_model_are_refused():
    with pytest.raises(ValueError, match="num_heads choices \\[8\\] exceed"):
        convert(tiny_model("bert"), num_heads=[8])


@pytest.mark.parametrize("choices, match", [
    (dict(expand_ratio=[1.5]), "expand_ratio"),
    (dict(expand_ratio=[0.5], width_mult=[0.5]), "not both"),
])
def test_bad_space_choices(choices, match):
    with pytest.raises(ValueError, match=match):
        bo.supernet(**choices)


def test_sampling_is_seeded_and_inside_the_space():
    model = convert(tiny_model("bert"))
    space = bo.get_search_space(model)
    a = [bo.sample_subnet(model, seed) for seed in range(20)]
    assert a == [bo.sample_subnet(model, seed) for seed in range(20)]
    assert len({json.dumps(s.to_dict()) for s in a}) > 10
    for sub in a:
        sub.validate(space)
    assert {s.depth for s in a} == set(space.depth)


def test_subnet_json_round_trip(tmp_path):
    sub = bo.SubnetConfig(layers=[0, 2, 3], heads=[1, 4, 2], ffn=[9, 37, 18], hidden=24)
    assert bo.SubnetConfig.from_json(sub.to_json()) == sub
    path = tmp_path / "subnet.json"
    sub.to_json(path)
    assert bo.SubnetConfig.from_json(path) == sub
    assert json.loads(path.read_text()) == sub.to_dict()


def test_search_space_json_round_trip():
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


def test_incomplete_subnet_json_is_refused():
    with pytest.raises(bo.SubnetError):
        bo.SubnetConfig.from_json('{"layers": [0]}')


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
