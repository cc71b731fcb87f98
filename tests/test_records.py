"""Run records: provenance is read once, when a run starts; files are written atomically."""

from __future__ import annotations

import json
import subprocess

import pytest

from bert_ofa import records


def _git(root, *args):
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=root, check=True,
                   capture_output=True)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A git repository with one commit: (folder, HEAD)."""
    monkeypatch.delenv("BERT_OFA_GIT_COMMIT", raising=False)
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    _git(tmp_path, "add", "a.py")
    _git(tmp_path, "commit", "-qm", "a")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    return tmp_path, head


def test_git_state_names_the_commit_of_a_clean_tree(repo):
    root, head = repo
    assert records.read_git_state(root) == {"git_commit": head, "git_dirty": False}
    (root / "new.py").write_text("")  # untracked files are not the run's code
    assert records.read_git_state(root)["git_dirty"] is False


def test_git_state_marks_tracked_changes(repo):
    root, head = repo
    (root / "a.py").write_text("x = 2\n")
    assert records.read_git_state(root) == {"git_commit": head, "git_dirty": True}


def test_git_state_outside_a_repository(tmp_path, monkeypatch):
    monkeypatch.delenv("BERT_OFA_GIT_COMMIT", raising=False)
    assert records.read_git_state(tmp_path / "no-such-dir") == {"git_commit": None}


def test_git_state_of_a_copied_tree_comes_from_the_environment(repo, monkeypatch):
    root, _ = repo
    monkeypatch.setenv("BERT_OFA_GIT_COMMIT", "abc123")  # a copied tree (GPU machine) says where it came from
    assert records.read_git_state(root) == {"git_commit": "abc123"}


def test_records_keep_the_commit_read_when_the_run_started(tmp_path, monkeypatch):
    """A run that lasts hours records the code it loaded, not what HEAD is when it finishes."""
    started = records.git_state()  # a job reads it when it starts
    real_run = records.subprocess.run

    def no_git(cmd, *args, **kwargs):
        assert cmd[0] != "git", "environment() must not ask git again"
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(records.subprocess, "run", no_git)
    rec = records.write_record(tmp_path / "r.json", "test", {"x": 1})
    assert rec["env"]["git_commit"] == started["git_commit"]
    assert json.loads((tmp_path / "r.json").read_text()) == rec


def test_atomic_write_leaves_no_partial_file(tmp_path):
    path = tmp_path / "sub" / "f.json"
    records.atomic_write_text(path, "one")
    assert path.read_text() == "one"

    with pytest.raises(TypeError):
        records.atomic_write_text(path, 123)  # a bad write fails before the rename
    assert path.read_text() == "one" and [p.name for p in path.parent.iterdir()] == ["f.json"]
