"""``OFA``: wrap a supernet for training; the training loop stays the ordinary one.

    ofa = OFA(model, run_config=RunConfig(...), distill_config=DistillConfig(teacher_model=t))
    for epoch in range(ofa.num_epochs):
        ofa.set_epoch(epoch)
        for batch in loader:
            for subnet in ofa.sample_subnets():
                ofa.set_active_subnet(subnet)
                student, teacher = ofa(**batch)
                ofa.calc_distill_loss().backward()
            optimizer.step(); optimizer.zero_grad()

The teacher runs once per batch (its outputs are cached for the batch's tensors), not
once per subnet.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..core import convert as _convert
from ..core import sampling as _sampling
from .distill import ATTENTION_LOSSES, DistillConfig, label_loss, layer_mapping, logit_loss, masked_mse
from ..core.elastic import make_elastic
from ..core.extract import extract_subnet
from .schedule import Phase, ProgressiveSchedule, RunConfig
from ..core.subnet import SubnetConfig


def _is_regression(model: nn.Module) -> bool:
    config = getattr(model, "config", None)
    return getattr(config, "problem_type", None) == "regression" or getattr(config, "num_labels", 2) == 1


def _owns_label_loss(model: nn.Module, labels: torch.Tensor) -> bool:
    """Whether OFA computes the label loss itself (single-label classification or regression, the
    GLUE cases, where ``UNLABELED`` rows must drop out); other problem types keep the model's own loss.
    Decided from the config and the labels' dtype: no look at their values."""
    if _is_regression(model):
        return True
    problem = getattr(getattr(model, "config", None), "problem_type", None)
    return problem != "multi_label_classification" and not labels.is_floating_point()


def load_teacher(teacher: nn.Module | str) -> nn.Module:
    if isinstance(teacher, str):
        from transformers import AutoModelForSequenceClassification

        teacher = AutoModelForSequenceClassification.from_pretrained(teacher)
    return teacher


class OFA(nn.Module):
    """A converted model plus its progressive-shrinking schedule and distillation."""

    def __init__(self, model: nn.Module, run_config: RunConfig | None = None,
                 distill_config: DistillConfig | None = None):
        super().__init__()
        self.model = model
        self.space = _convert.get_search_space(model)  # raises if the model was not converted
        self.run_config = run_config or RunConfig()
        self.schedule = ProgressiveSchedule(self.run_config, self.space)
        self.distill_config = distill_config
        self._teacher: list[nn.Module] = []  # a list: not a submodule, so not trained or saved
        self.epoch, self.global_step = 0, 0
        self.current_subnets: list[SubnetConfig] = []
        self._cache_ids: torch.Tensor | None = None  # held, so its id/address cannot be reused
        self._cache_version = -1
        self._teacher_out: Any = None
        self._last: dict[str, Any] = {}
        self.last_loss_parts: dict[str, torch.Tensor] = {}  # detached; read them without a host sync
        dc = distill_config
        if dc is not None and dc.teacher_refresh != "none" and dc.teacher_model is None:
            raise ValueError("DistillConfig.teacher_refresh='stage' needs a teacher_model for the first stage; "
                             "give one, or set teacher_refresh='none'")
        stages = [p.stage for p in self.schedule.phases]
        if dc is not None and set(dc.lambda_distill_stages or {}) - set(stages):
            raise ValueError(f"DistillConfig.lambda_distill_stages names stages "
                             f"{sorted(set(dc.lambda_distill_stages) - set(stages))} that this schedule lacks; "
                             f"its stages are {sorted(set(stages))} (RunConfig.elastic_order)")
        if dc is not None and dc.teacher_model is not None:
            teacher = load_teacher(dc.teacher_model).eval()
            teacher.requires_grad_(False)
            self._teacher.append(teacher)
            if dc.needs_attention:  # sdpa returns no attention maps
                for m in (model, teacher):
                    m.set_attn_implementation("eager")
            t_hidden = teacher.config.hidden_size
            if dc.needs_hidden and (t_hidden != self.space.hidden_size or len(self.space.hidden) > 1):
                # maps the student's (active) hidden size to the teacher's; trained with the student
                proj = nn.Linear(self.space.hidden_size, t_hidden, bias=False)
                with torch.no_grad():
                    proj.weight.zero_()
                    n = min(t_hidden, self.space.hidden_size)
                    proj.weight[:n, :n] = torch.eye(n)
                self.projection = make_elastic(proj, "linear")

    # ---- the active subnet and the schedule -------------------------------------------------
    @property
    def teacher(self) -> nn.Module | None:
        return self._teacher[0] if self._teacher else None

    @property
    def num_epochs(self) -> int:
        return self.schedule.num_epochs

    @property
    def current_phase(self) -> Phase:
        return self.schedule.phase_at(self.epoch)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def sample_subnets(self, global_step: int | None = None) -> list[SubnetConfig]:
        """The subnets to train at this step (``dynamic_batch_size`` of them); advances the step."""
        step = self.global_step if global_step is None else global_step
        self.current_subnets = self.schedule.subnets_for_step(self.epoch, step)
        self.global_step = step + 1
        return self.current_subnets

    def set_active_subnet(self, subnet: SubnetConfig) -> None:
        _convert.set_active_subnet(self.model, subnet)

    def get_active_subnet(self) -> SubnetConfig:
        return _convert.get_active_subnet(self.model)

    def largest_subnet(self) -> SubnetConfig:
        return _sampling.largest_subnet(self.model)

    def smallest_subnet(self) -> SubnetConfig:
        return _sampling.smallest_subnet(self.model)

    def refresh_teacher(self) -> nn.Module:
        """Make a frozen copy of the supernet's largest subnet, as trained so far, the teacher."""
        teacher = extract_subnet(self.model, self.largest_subnet()).eval()
        teacher.requires_grad_(False)
        self._teacher[:] = [teacher]
        self._cache_ids, self._teacher_out = None, None
        return teacher

    def refreshes_teacher_at(self, epoch: int) -> bool:
        """Whether ``teacher_refresh='stage'`` swaps the teacher before ``epoch`` (a later stage's start)."""
        dc = self.distill_config
        if dc is None or dc.teacher_refresh != "stage" or not 0 < epoch < self.num_epochs:
            return False
        return self.schedule.phase_at(epoch).stage_index != self.schedule.phase_at(epoch - 1).stage_index

    def _apply(self, fn, *args, **kwargs):  # .to()/.cuda()/.half() move the teacher too
        super()._apply(fn, *args, **kwargs)
        for teacher in self._teacher:
            teacher._apply(fn, *args, **kwargs)
        return self

    def train(self, mode: bool = True) -> "OFA":
        super().train(mode)
        for teacher in self._teacher:
            teacher.eval()  # the teacher never uses dropout
        return self

    # ---- forward and losses -----------------------------------------------------------------
    def _teacher_outputs(self, inputs: dict[str, Any]) -> Any:
        ids = inputs.get("input_ids")
        if ids is None or ids is not self._cache_ids or ids._version != self._cache_version:
            dc = self.distill_config
            with torch.no_grad():
                self._teacher_out = self.teacher(
                    **inputs, output_hidden_states=dc.needs_hidden, output_attentions=dc.needs_attention)
            self._cache_ids, self._cache_version = ids, -1 if ids is None else ids._version
        return self._teacher_out

    def forward(self, **batch: Any):
        """The student's outputs; with a teacher, ``(student_outputs, teacher_outputs)``.

        Rows labelled ``UNLABELED`` (-100: augmented inputs) are left out of the label loss."""
        dc = self.distill_config
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        labels = batch.get("labels")
        own_loss = labels is not None and _owns_label_loss(self.model, labels)
        extra = {} if self.teacher is None else {"output_hidden_states": dc.needs_hidden,
                                                 "output_attentions": dc.needs_attention}
        # rows without a label (augmented inputs) learn from the teacher only: the label loss skips them
        student = self.model(**(inputs if own_loss else batch), **extra)
        if own_loss:
            student["loss"] = label_loss(student.logits, labels, _is_regression(self.model))
        if self.teacher is None:
            self._last = {"student": student, "teacher": None, "mask": batch.get("attention_mask")}
            return student
        teacher = self._teacher_outputs(inputs)
        self._last = {"student": student, "teacher": teacher, "mask": batch.get("attention_mask")}
        return student, teacher

    def calc_distill_loss(self, student: Any = None, teacher: Any = None,
                          attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Weighted logit + hidden-state (+ attention, + label) loss of the last forward."""
        student = student if student is not None else self._last["student"]
        teacher = teacher if teacher is not None else self._last["teacher"]
        mask = attention_mask if attention_mask is not None else self._last.get("mask")
        dc = self.distill_config or DistillConfig(lambda_logit=0, lambda_distill=0, lambda_label=1)
        parts: dict[str, torch.Tensor] = {}
        if teacher is not None and dc.lambda_logit > 0:
            parts["logit"] = dc.lambda_logit * logit_loss(student.logits, teacher.logits, dc.temperature,
                                                          _is_regression(self.model))
        # the phase only matters with per-stage weights (and is undefined past the schedule's end)
        lam_hidden = dc.hidden_weight(self.current_phase.stage) if dc.lambda_distill_stages else dc.lambda_distill
        if teacher is not None and lam_hidden > 0:
            parts["hidden"] = lam_hidden * self._hidden_loss(student, teacher, mask, dc)
        if teacher is not None and dc.needs_attention:
            parts["attention"] = dc.lambda_attention * self._attention_loss(student, teacher, mask, dc)
        if dc.lambda_label > 0:
            if getattr(student, "loss", None) is None:
                raise ValueError("lambda_label > 0 needs 'labels' in the batch")
            parts["label"] = dc.lambda_label * student.loss
        if not parts:
            raise ValueError("nothing to optimise: give a teacher or lambda_label > 0 (and labels)")
        self.last_loss_parts = {k: v.detach() for k, v in parts.items()}
        return sum(parts.values())

    @property
    def last_losses(self) -> dict[str, float]:
        """The weighted parts of the last ``calc_distill_loss`` as floats (a host sync on GPU)."""
        return {k: float(v) for k, v in self.last_loss_parts.items()}

    def _pairs(self, student_depth: int, teacher: Any, dc: DistillConfig) -> list[tuple[int, int]]:
        return layer_mapping(student_depth, len(teacher.hidden_states) - 1, dc.mapping_layers)

    def _hidden_loss(self, student: Any, teacher: Any, mask, dc: DistillConfig) -> torch.Tensor:
        fn = dc.distill_fn or masked_mse
        hidden = _convert.get_active_subnet(self.model).hidden
        proj = getattr(self, "projection", None)
        if proj is not None:
            proj.set_active(hidden, None)
        losses = []
        for s, t in self._pairs(len(student.hidden_states) - 1, teacher, dc):
            h, target = student.hidden_states[s], teacher.hidden_states[t]
            if proj is not None and (h.shape[-1] != target.shape[-1] or hidden != self.space.hidden_size):
                h = proj(h)
            losses.append(fn(h, target, mask))
        return torch.stack(losses).mean()

    def _attention_loss(self, student: Any, teacher: Any, mask, dc: DistillConfig) -> torch.Tensor:
        losses = []
        for s, t in self._pairs(len(student.attentions), teacher, dc):
            if s == 0:
                continue  # index 0 is the embeddings: no attention map
            a = student.attentions[s - 1]
            losses.append(ATTENTION_LOSSES[dc.attention_loss](a, teacher.attentions[t - 1][:, : a.shape[1]], mask))
        return torch.stack(losses).mean()
