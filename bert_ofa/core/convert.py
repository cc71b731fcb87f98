"""Turn a Hugging Face model into a supernet in place, and set its active subnet.

``set_active_subnet`` is the one place that chooses sizes; elastic layers only slice.
"""

from __future__ import annotations

from torch import nn

from .arch import ArchSpec, Slot, arch_for
from .elastic import ElasticLayerList, make_elastic
from .sampling import largest_of
from .space import SearchSpace, SupernetConfig
from .state import STATE_ATTR, SlotRef, SupernetState, get_state
from .subnet import SubnetConfig


def _join(*parts: str) -> str:
    return ".".join(p for p in parts if p)


def _get(model: nn.Module, path: str) -> nn.Module | None:
    try:
        module = model.get_submodule(path)
    except AttributeError:
        return None
    return module


def resolve_slots(model: nn.Module) -> tuple[ArchSpec, str, list[SlotRef]]:
    """The architecture entry, the layer-list path and every elastic slot present in ``model``."""
    config = getattr(model, "config", None)
    spec = arch_for(getattr(config, "model_type", type(model).__name__))
    base_prefix = "" if model is model.base_model else model.base_model_prefix
    projected = _get(model, _join(base_prefix, "embeddings_project")) is not None
    emb_role = None if projected else "hidden"  # projected embeddings keep their own width
    refs: list[SlotRef] = []

    def add(path: str, slot: Slot, layer: int | None, required: bool) -> None:
        slot = Slot(slot.path, slot.kind, emb_role if slot.in_role == "emb" else slot.in_role,
                    emb_role if slot.out_role == "emb" else slot.out_role, slot.per_token)
        if _get(model, path) is None:
            if required:
                raise ValueError(f"{type(model).__name__} has no submodule '{path}' expected for {spec.family}")
            return
        refs.append(SlotRef(path, slot, layer))

    for slot in spec.embeddings:
        add(_join(base_prefix, slot.path), slot, None, True)
    layers_path = _join(base_prefix, spec.layers)
    for i in range(len(model.get_submodule(layers_path))):
        for slot in spec.layer:
            add(_join(layers_path, str(i), slot.path), slot, i, True)
    for slot in spec.optional:
        add(_join(base_prefix, slot.path), slot, None, False)
    head = next((s for suffix, s in spec.heads.items() if type(model).__name__.endswith(suffix)), ())
    for slot in head:
        add(slot.path, slot, None, False)
    return spec, layers_path, refs


class Convert:
    """PaddleSlim-style converter: ``Convert(supernet(...)).convert(model)``."""

    def __init__(self, config: SupernetConfig | SearchSpace | None = None):
        self.config = config if config is not None else SupernetConfig()

    def convert(self, model: nn.Module) -> nn.Module:
        """Inject elastic modules into ``model`` in place and return it (largest subnet active)."""
        if getattr(model, STATE_ATTR, None) is not None:
            raise ValueError("model is already a supernet; convert a fresh model instead")
        spec, layers_path, refs = resolve_slots(model)
        config, fields = model.config, spec.config_fields
        hidden, heads = getattr(config, fields["hidden"]), getattr(config, fields["heads"])
        shape = dict(num_layers=getattr(config, fields["layers"]), num_heads=heads,
                     head_dim=getattr(config, "head_dim", None) or hidden // heads,
                     intermediate_size=getattr(config, fields["ffn"]), hidden_size=hidden)
        if isinstance(self.config, SearchSpace):  # a saved supernet's space
            space = self.config
            found = {k: getattr(space, k) for k in shape}
            if found != shape:
                raise ValueError(f"search space is for a model of shape {found}, this model is {shape}")
        else:
            space = SearchSpace.resolve(self.config, **shape)
        for ref in refs:
            make_elastic(model.get_submodule(ref.path), ref.slot.kind)
        model.get_submodule(layers_path).__class__ = ElasticLayerList
        if space.elastic_hidden:
            _check_hidden_consumers(model, {ref.path for ref in refs}, space.hidden_size)
        state = SupernetState(spec, space, refs, layers_path, active=largest_of(space))
        setattr(model, STATE_ATTR, state)
        set_active_subnet(model, state.active)
        return model


def _in_width(module: nn.Module) -> int | None:
    if isinstance(module, nn.Linear):
        return module.in_features
    if isinstance(module, nn.LayerNorm):
        return module.normalized_shape[-1]
    return None


def _check_hidden_consumers(model: nn.Module, converted: set[str], hidden: int) -> None:
    """An elastic hidden size needs every module that reads the hidden state to be elastic."""
    leftovers = [name for name, m in model.named_modules() if name not in converted and _in_width(m) == hidden]
    if leftovers:
        raise ValueError(
            f"an elastic hidden size is not supported for {type(model).__name__}: {leftovers} would keep "
            "the full hidden size. Use the bare encoder or a *ForSequenceClassification model, "
            "or leave hidden_size out of supernet(...)"
        )


def set_active_subnet(model: nn.Module, subnet: SubnetConfig) -> None:
    """Validate ``subnet`` against the model's space and make it the one the model runs."""
    state = get_state(model)
    subnet.validate(state.space)
    hd = state.space.head_dim
    position = {layer: j for j, layer in enumerate(subnet.layers)}
    for ref in state.slots:
        j = None if ref.layer is None else position.get(ref.layer)
        if ref.layer is not None and j is None:
            dims = {"hidden": None, "heads": None, "ffn": None}  # not run; keep full
        else:
            dims = {
                "hidden": subnet.hidden,
                "heads": None if j is None else subnet.heads[j] * hd,
                "ffn": None if j is None else subnet.ffn[j],
            }
        module = model.get_submodule(ref.path)
        module.set_active(dims.get(ref.slot.in_role), dims.get(ref.slot.out_role))
    layer_list = model.get_submodule(state.layers_path)
    full = subnet.layers == list(range(state.space.num_layers))
    layer_list.active_layers = None if full else tuple(subnet.layers)
    state.active = SubnetConfig.from_dict(subnet.to_dict())


def get_active_subnet(model: nn.Module) -> SubnetConfig:
    """A copy of the subnet the model currently runs."""
    return SubnetConfig.from_dict(get_state(model).active.to_dict())


def get_search_space(model: nn.Module) -> SearchSpace:
    return get_state(model).space
