"""results/make_tables.py: the tables are computed from the records they are given.

make_tables.py returns markdown only (no rows or values as data), so these tests read the generated tables
cell by cell (``table_rows``) and the headings that carry values; they check no sentence of prose."""

import importlib.util
import json
from pathlib import Path

spec = importlib.util.spec_from_file_location("make_tables", Path(__file__).parent.parent / "results" / "make_tables.py")
make_tables = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_tables)

ENV = {"cuda": "GPU-X", "cpu": "cpu", "cpu_count": 4, "torch_threads": 4, "torch": "t", "transformers": "tf", "python": "3", "git_commit": "abc"}


def table_rows(text: str) -> list[list[str]]:
    """Every markdown table row of ``text`` as its list of cells (separator rows included)."""
    return [[c.strip() for c in line.strip()[1:-1].split("|")] for line in text.splitlines() if line.startswith("|")]


def cells(line: str) -> list[str]:
    return table_rows(line)[0]


def rows_named(text: str, name: str) -> list[list[str]]:
    return [r for r in table_rows(text) if r[0] == name]


def has_row(text: str, *prefix: str) -> bool:
    """Whether a table row starts with these cells."""
    return any(r[:len(prefix)] == list(prefix) for r in table_rows(text))


def headings(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("#")]


def _subnets(largest, w, d):
    return [{"name": n, "metrics": {"eval_pearson": v}} for n, v in
            (("largest", largest), ("width 0.5 x depth 1.0", w), ("width 1.0 x depth 0.5", d))]


def _write(folder: Path, name: str, record: dict) -> None:
    (folder / name).write_text(json.dumps({"env": ENV, "command": f"cmd {name}", "task": "stsb", **record}))


def test_seed_table_gives_per_seed_deltas_and_means(tmp_path):
    for seed, (w, d, dw, dd) in {42: (0.80, 0.70, 0.78, 0.72), 43: (0.84, 0.74, 0.80, 0.70)}.items():
        suffix = "" if seed == 42 else f"_s{seed}"
        _write(tmp_path, f"ablation_stsb_r4{suffix}.json", {"tag": "r4", "seed": seed, "recipe": {"a": 1}, "results": {
            "teacher_metrics": {"eval_pearson": 0.85}, "subnets": _subnets(0.86, w, d), "runtime_s": 60}})
        _write(tmp_path, f"direct_stsb{suffix}.json", {"seed": seed, "results": {
            "width 0.5 x depth 1.0": {"metrics": {"eval_pearson": dw}},
            "width 1.0 x depth 0.5": {"metrics": {"eval_pearson": dd}}}})
    rows = [r for r in table_rows(make_tables.glue_ofa_seeds(tmp_path)) if r[0].startswith("r4")]
    assert rows[0] == cells("| r4 | 42 | 0.8600 | +1.0 | 0.8000 | 0.7800 | +2.0 | 0.7000 | 0.7200 | -2.0 |")
    assert rows[1] == cells("| r4 | 43 | 0.8600 | +1.0 | 0.8400 | 0.8000 | +4.0 | 0.7400 | 0.7000 | +4.0 |")
    # means over the two seeds; sd of (0.80, 0.84) is 0.0283; paired deltas (+2, +4) average +3 with
    # standard error sd/sqrt(2) = 1.0, and (-2, +4) average +1 with standard error 3.0
    assert rows[2] == cells("| r4: mean ± sd | 2 seeds | 0.8600 ± 0.0000 | +1.0 ± 0.0 | 0.8200 ± 0.0283 | 0.7900 ± 0.0141 "
                            "| +3.0 ± 1.0 | 0.7200 ± 0.0283 | 0.7100 ± 0.0141 | +1.0 ± 3.0 |")


def test_seed_table_headings_name_the_device_and_the_teacher(tmp_path):
    _write(tmp_path, "ofa_stsb.json", {"seed": 42, "recipe": {}, "results": {
        "teacher_metrics": {"eval_pearson": 0.85}, "subnets": _subnets(0.86, 0.8, 0.7), "runtime_s": 60}})
    title, task = headings(make_tables.glue_ofa_seeds(tmp_path))
    assert "GPU-X" in title  # the device of the records' env
    assert task.startswith("## STS-B") and task.endswith("teacher 0.8500")


def test_seed_table_is_none_without_runs(tmp_path):
    assert make_tables.glue_ofa_seeds(tmp_path) is None


def test_seed_table_without_a_direct_record_shows_dashes(tmp_path):
    _write(tmp_path, "ofa_stsb.json", {"seed": 42, "recipe": {}, "results": {
        "teacher_metrics": {"eval_pearson": 0.85}, "subnets": _subnets(0.86, 0.8, 0.7), "runtime_s": 60}})
    assert rows_named(make_tables.glue_ofa_seeds(tmp_path), "main") == [
        cells("| main | 42 | 0.8600 | +1.0 | 0.8000 | - | - | 0.7000 | - | - |")]


def test_seed_table_pairs_each_run_with_the_direct_baseline_of_its_tag(tmp_path):
    # r4 has no baseline of its own: the main one; r4s (other data) has its own
    for tag, swap, (w, d) in (("r4", 0.0, (0.80, 0.70)), ("r4s", 0.5, (0.82, 0.74))):
        _write(tmp_path, f"ablation_stsb_{tag}.json", {"tag": tag, "seed": 42, "recipe": {"swap_pairs": swap} if swap
                                                       else {}, "results": {
            "teacher_metrics": {"eval_pearson": 0.85}, "subnets": _subnets(0.86, w, d), "runtime_s": 60}})
    for tag, (dw, dd) in ((None, (0.78, 0.72)), ("r4s", (0.79, 0.75))):
        _write(tmp_path, f"direct_stsb_{tag}.json" if tag else "direct_stsb.json", {"seed": 42, "tag": tag, "results": {
            "width 0.5 x depth 1.0": {"metrics": {"eval_pearson": dw}},
            "width 1.0 x depth 0.5": {"metrics": {"eval_pearson": dd}}}})
    text = make_tables.glue_ofa_seeds(tmp_path)
    assert rows_named(text, "r4") == [cells("| r4 | 42 | 0.8600 | +1.0 | 0.8000 | 0.7800 | +2.0 | 0.7000 | 0.7200 | -2.0 |")]
    assert rows_named(text, "r4s") == [cells("| r4s | 42 | 0.8600 | +1.0 | 0.8200 | 0.7900 | +3.0 | 0.7400 | 0.7500 | -1.0 |")]


def test_seed_table_scores_each_run_against_its_own_teacher(tmp_path):
    for tag, teacher in (("r4", 0.85), ("r4c6", 0.87)):
        _write(tmp_path, f"ablation_stsb_{tag}.json", {"tag": tag, "seed": 42, "recipe": {}, "results": {
            "teacher_metrics": {"eval_pearson": teacher}, "subnets": _subnets(0.86, 0.8, 0.7), "runtime_s": 60}})
    text = make_tables.glue_ofa_seeds(tmp_path)
    rows = {r[0]: r[3] for r in table_rows(text) if r[0].startswith("r4")}  # largest against its own teacher
    assert rows == {"r4": "+1.0", "r4c6": "-1.0"}
    task = next(h for h in headings(text) if h.startswith("## STS-B"))
    assert task.split("; ")[1].startswith("teachers 0.8500, 0.8700")  # both teachers, not one


def _direct(tmp_path, name, seed, tag, teacher, w, swap=None):
    record = {"seed": seed, "tag": tag, "settings": {"swap_pairs": swap} if swap else {}, "results": {
        "width 0.5 x depth 1.0": {"metrics": {"eval_pearson": w}},
        "width 1.0 x depth 0.5": {"metrics": {"eval_pearson": 0.7}}}}
    if teacher:
        record["teacher"] = teacher
    _write(tmp_path, name, record)


def _teacher_c6_records(tmp_path):
    # r4w has no direct run: it is judged against the baseline cut from its teacher (c6) with its seed,
    # not the default teacher's, nor another seed's, nor one trained on swapped pairs
    _direct(tmp_path, "direct_stsb.json", 42, None, None, 0.70)
    _direct(tmp_path, "direct_stsb_r4c6_s43.json", 43, "r4c6", "outputs/teachers/stsb-c6", 0.71)
    _direct(tmp_path, "direct_stsb_r4sc6.json", 42, "r4sc6", "outputs/teachers/stsb-c6", 0.72, swap=0.5)
    _direct(tmp_path, "direct_stsb_r4c6.json", 42, "r4c6", "outputs/teachers/stsb-c6", 0.73)
    _write(tmp_path, "ablation_stsb_r4w.json", {"tag": "r4w", "seed": 42, "recipe": {"expand_ratio": "[0.5]"},
                                                "results": {"teacher": "outputs/teachers/stsb-c6",
                                                            "teacher_metrics": {"eval_pearson": 0.85},
                                                            "subnets": _subnets(0.86, 0.8, 0.7), "runtime_s": 60}})
    runs = [json.loads((tmp_path / "ablation_stsb_r4w.json").read_text())]
    directs = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("direct_*.json"))]
    return runs, directs


def test_a_run_without_its_own_baseline_takes_the_one_of_its_teacher_seed_and_data(tmp_path):
    _teacher_c6_records(tmp_path)
    assert rows_named(make_tables.glue_ofa_seeds(tmp_path), "r4w") == [
        cells("| r4w | 42 | 0.8600 | +1.0 | 0.8000 | 0.7300 | +7.0 | 0.7000 | 0.7000 | +0.0 |")]


def test_direct_for_matches_seed_data_and_teacher(tmp_path):
    runs, directs = _teacher_c6_records(tmp_path)
    assert make_tables._direct_for(runs[0], directs)["tag"] == "r4c6"
    assert make_tables._direct_for({**runs[0], "seed": 44}, directs) is None  # no baseline of that seed
    swapped = {**runs[0], "recipe": {"swap_pairs": 0.5}}
    assert make_tables._direct_for(swapped, directs)["tag"] == "r4sc6"
    default = {**runs[0], "results": {**runs[0]["results"], "teacher": None}}
    assert make_tables._direct_for(default, directs)["tag"] is None  # the task's default teacher


def test_a_baseline_trained_with_the_teachers_logits_judges_only_its_own_run(tmp_path):
    runs, directs = _teacher_c6_records(tmp_path)
    # a baseline with the teacher's logits (--direct_loss label+kd, tag "kdc6", sorting first) judges only its own run
    kd = {**directs[-1], "tag": "kdc6", "settings": {"loss": "label+kd"}}
    assert make_tables._direct_for(runs[0], [kd, *directs])["tag"] == "r4c6"
    assert make_tables._direct_for({**runs[0], "tag": "kdc6"}, [kd, *directs]) is kd


def test_a_run_on_fewer_training_rows_takes_the_baseline_trained_on_the_same_rows(tmp_path):
    _direct(tmp_path, "direct_stsb.json", 42, None, None, 0.70)
    _write(tmp_path, "direct_stsb_r4n8k.json", {"seed": 42, "tag": "r4n8k", "settings": {"max_train_samples": 8000},
                                                "results": {"width 0.5 x depth 1.0": {"metrics": {"eval_pearson": 0.6}}}})
    directs = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("direct_*.json"))]
    run = {"task": "stsb", "seed": 42, "tag": "other", "results": {}}
    assert make_tables._direct_for({**run, "recipe": {"max_train_samples": 8000}}, directs)["tag"] == "r4n8k"
    assert make_tables._direct_for({**run, "recipe": {}}, directs)["tag"] is None
    assert make_tables._direct_for({**run, "recipe": {"max_train_samples": 4000}}, directs) is None


def test_a_task_with_tagged_runs_only_gets_its_ablation_and_per_run_tables(tmp_path, monkeypatch):
    monkeypatch.setattr(make_tables, "RECORDS", tmp_path)
    env = {**ENV, "torch_threads": 2}
    subnets = [{**s, "params": 1e6, "flops": 1e9} for s in _subnets(0.86, 0.8, 0.7)]
    for name, task, tag, recipe in (("ofa_stsb.json", "stsb", None, {"a": 1}),
                                    ("ablation_mrpc_r4n8k.json", "mrpc", "r4n8k", {"a": 1, "max_train_samples": 8})):
        metrics = [{**s, "metrics": {"eval_f1": s["metrics"]["eval_pearson"]}} for s in subnets]
        (tmp_path / name).write_text(json.dumps({"env": env, "command": "cmd", "task": task, "tag": tag, "seed": 42,
                                                 "recipe": recipe, "results": {
            "teacher_metrics": {"eval_pearson": 0.85, "eval_f1": 0.85},
            "subnets": subnets if task == "stsb" else metrics, "runtime_s": 60}}))
    (tmp_path / "direct_mrpc_r4n8k.json").write_text(json.dumps({
        "task": "mrpc", "seed": 42, "tag": "r4n8k", "settings": {"max_train_samples": 8}, "results": {
            "width 0.5 x depth 1.0": {"metrics": {"eval_f1": 0.78}}, "width 1.0 x depth 0.5": {"metrics": {"eval_f1": 0.72}}}}))
    text = make_tables.glue_ofa()
    assert "## MRPC: recipe ablations (f1, dev)" in headings(text)
    assert has_row(text, *cells("| r4n8k: max_train_samples=8 | 0.8500 | 0.8600 | 0.8000 | 0.7000 | - | - | 1 min |"))
    assert has_row(text, *cells("| direct fine-tune per shape, as r4n8k | - | - | 0.7800 | 0.7200 | - | - | - |"))
    assert has_row(text, *cells("| r4n8k | 42 | 0.8600 | +1.0 | 0.8000 | 0.7800 | +2.0 | 0.7000 | 0.7200 | -2.0 |"))
    assert not any(h.startswith("## STS-B: each run") for h in headings(text))  # one main run, nothing beside it


def _main_run_records(tmp_path, monkeypatch):
    monkeypatch.setattr(make_tables, "RECORDS", tmp_path)
    subnets = [{**s, "params": 1e6, "flops": 1e9} for s in _subnets(0.86, 0.80, 0.70)]
    _write(tmp_path, "ofa_stsb.json", {"seed": 42, "recipe": {"n_epochs": "[[1], [2]]"}, "results": {
        "teacher_metrics": {"eval_pearson": 0.85}, "subnets": subnets, "runtime_s": 60}})
    for seed, dw in ((42, 0.78), (43, 0.83)):  # direct_stsb_s43.json sorts after, and once replaced seed 42's
        _write(tmp_path, "direct_stsb.json" if seed == 42 else f"direct_stsb_s{seed}.json", {
            "seed": seed, "settings": {"epochs": 3.0}, "results": {"width 0.5 x depth 1.0": {"metrics": {
                "eval_pearson": dw}}, "width 1.0 x depth 0.5": {"metrics": {"eval_pearson": 0.7}}}})


def test_main_table_takes_the_baseline_of_the_main_runs_seed(tmp_path, monkeypatch):
    _main_run_records(tmp_path, monkeypatch)
    text = make_tables.glue_ofa()
    target = next(r for r in table_rows(text) if r[:3] == ["STS-B", "main", "+1.0"])
    assert target[3] == "+2.0"  # 0.80 against seed 42's 0.78, not seed 43's 0.83
    assert has_row(text, "width 0.5 x depth 1.0", "1.00M", "1.00", "0.8000/nan", "0.7800/nan")  # no spearmanr given
    assert not rows_named(text, "direct fine-tune per shape, seed 43")  # no ablations, no such table


def test_the_default_recipes_run_joins_the_targets_with_its_own_baseline(tmp_path, monkeypatch):
    _main_run_records(tmp_path, monkeypatch)
    _write(tmp_path, "ablation_stsb_r4.json", {"tag": "r4", "seed": 42, "recipe": {}, "results": {
        "teacher_metrics": {"eval_pearson": 0.85}, "subnets": _subnets(0.86, 0.81, 0.71), "runtime_s": 60}})
    text = make_tables.glue_ofa()
    # the default recipe's run joins the targets, against the baseline of its teacher and seed
    assert has_row(text, *cells("| STS-B | r4 (the default) | +1.0 | +3.0 | +1.0 | - | 3 |"))
    rows = [r for r in table_rows(text) if r[0].startswith("direct fine-tune")]
    assert [r[0] for r in rows] == ["direct fine-tune per shape", "direct fine-tune per shape, seed 43"]
    assert rows[0][3] == "0.7800" and rows[1][3] == "0.8300"


def test_ablation_table_names_a_baseline_trained_with_the_teachers_logits(tmp_path, monkeypatch):
    monkeypatch.setattr(make_tables, "RECORDS", tmp_path)
    _write(tmp_path, "ofa_stsb.json", {"seed": 42, "recipe": {}, "results": {
        "teacher_metrics": {"eval_pearson": 0.85}, "subnets": [{**s, "params": 1e6, "flops": 1e9} for s in
                                                               _subnets(0.86, 0.80, 0.70)], "runtime_s": 60}})
    _write(tmp_path, "ablation_stsb_r4.json", {"tag": "r4", "seed": 42, "recipe": {}, "results": {
        "teacher_metrics": {"eval_pearson": 0.85}, "subnets": _subnets(0.86, 0.81, 0.71), "runtime_s": 60}})
    _write(tmp_path, "direct_stsb_kdc6.json", {"seed": 42, "tag": "kdc6", "teacher": "t-c6",
                                                "settings": {"loss": "label+kd"}, "results": {
        "width 0.5 x depth 1.0": {"metrics": {"eval_pearson": 0.79}}}})
    _write(tmp_path, "direct_stsb_kdx1c6.json", {"seed": 42, "tag": "kdx1c6", "teacher": "t-c6",
                                                  "settings": {"loss": "label+kd", "distill_augment": 1}, "results": {
        "width 0.5 x depth 1.0": {"metrics": {"eval_pearson": 0.80}}}})
    text = make_tables.glue_ofa()
    assert has_row(text, "direct fine-tune per shape, as kdc6, loss label+kd, teacher t-c6", "-", "-", "0.7900", "-")
    assert has_row(text, "direct fine-tune per shape, as kdx1c6, loss label+kd + 1 teacher-only copies per row, "
                   "teacher t-c6", "-", "-", "0.8000", "-")
