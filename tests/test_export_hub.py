"""push_to_hub against a local stand-in for the Hub API (no network), and dry runs."""

from __future__ import annotations

import warnings

import pytest
from huggingface_hub import HfApi
from tiny_models import HALF_WIDTH, tiny_supernet

import bert_ofa as bo
from bert_ofa.export.hf import export_subnet
from bert_ofa.export.hub import folder_files, push_to_hub
from bert_ofa.app.jobs import ExportArguments, run_export
from bert_ofa.export.supernet_dir import save_supernet

SUBNET = bo.SubnetConfig(layers=[0, 1, 3], heads=[1, 3, 2], ffn=[9, 37, 18], hidden=32)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = tiny_supernet("bert", space=dict(expand_ratio=[0.25, 0.5, 0.75], depth=[3]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no tokenizer
        return export_subnet(model, SUBNET, tmp_path_factory.mktemp("hub") / "model")


@pytest.fixture
def hub(monkeypatch):
    """Record what push_to_hub asks of the Hub instead of sending it."""
    calls = []

    def create_repo(self, repo_id, **kwargs):
        calls.append(("create_repo", repo_id, dict(kwargs, token=self.token)))
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, **kwargs):
        calls.append(("upload_folder", kwargs["repo_id"], dict(kwargs, token=self.token)))

        class Commit:
            commit_url = f"https://huggingface.co/{kwargs['repo_id']}/commit/0123abc"

        return Commit()

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    return calls


def test_push_to_hub_creates_repo_and_uploads_the_folder(exported, hub):
    upload = push_to_hub(exported, "someone/bert-ofa-tiny", private=True, token="hf_test")
    (create, repo, create_kw), (upload_call, repo2, upload_kw) = hub
    assert (create, repo, upload_call, repo2) == ("create_repo", "someone/bert-ofa-tiny",
                                                  "upload_folder", "someone/bert-ofa-tiny")
    assert create_kw["private"] is True and create_kw["exist_ok"] is True and create_kw["token"] == "hf_test"
    assert upload_kw["folder_path"] == str(exported) and upload_kw["token"] == "hf_test"
    assert upload_kw["commit_message"] == "Upload bert_ofa subnet (3 layers, heads 1-3, FFN 9-37, hidden 32)"
    assert upload_kw["allow_patterns"] == upload.files == folder_files(exported)
    assert {"config.json", "model.safetensors", "README.md", "subnet.json", "modeling_ofa_compact.py",
            "configuration_ofa_compact.py"} == set(upload.files)
    assert upload.url.endswith("/commit/0123abc")


def test_push_to_hub_custom_message_public_and_hidden_files(exported, hub):
    (exported / ".cache").mkdir(exist_ok=True)
    (exported / ".cache" / "junk").write_text("x")
    push_to_hub(exported, "someone/m", commit_message="first upload")
    (_, _, create_kw), (_, _, upload_kw) = hub
    assert create_kw["private"] is False and upload_kw["commit_message"] == "first upload"
    assert not any(name.startswith(".") for name in upload_kw["allow_patterns"])


def test_dry_run_lists_files_without_network(exported, capsys, monkeypatch):
    def offline(*args, **kwargs):
        raise AssertionError("dry_run reached the Hub")

    monkeypatch.setattr(HfApi, "create_repo", offline)
    monkeypatch.setattr(HfApi, "upload_folder", offline)
    upload = push_to_hub(exported, "someone/m", dry_run=True)
    printed = capsys.readouterr().out
    assert upload.url is None and upload.files == folder_files(exported)
    for name in upload.files:
        assert f"  {name}\n" in printed
    assert "someone/m (public)" in printed


def test_push_to_hub_bad_input(exported, tmp_path, hub):
    with pytest.raises(FileNotFoundError, match="not an exported model folder"):
        push_to_hub(tmp_path, "someone/m")
    with pytest.raises(ValueError, match="user/name"):
        push_to_hub(exported, "no-slash")
    assert hub == []


def test_run_export_pushes_with_the_cli_arguments(tmp_path, hub):
    model = tiny_supernet("distilbert", space=HALF_WIDTH)
    save_supernet(model, tmp_path / "super")
    args = ExportArguments(supernet=str(tmp_path / "super"), output_dir=str(tmp_path / "out"), width_mult=0.5,
                           push_to_hub=True, hub_model_id="someone/distil-half", private=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no tokenizer
        out = run_export(args)
    (_, repo, create_kw), (_, _, upload_kw) = hub
    assert repo == "someone/distil-half" and create_kw["private"] is True
    assert upload_kw["allow_patterns"] == folder_files(out)
    assert 'from_pretrained("someone/distil-half")' in (out / "README.md").read_text()
