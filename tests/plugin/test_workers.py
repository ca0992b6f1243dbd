"""The plugin's jobs find models by reference: a model file saved again is read again, only a few
models stay loaded, and a version is found through the window's workspace, never by a name that
could shadow a file."""

import os

import pytest
import torch

from napari_unet import _jobs
from unet_core import UNet, save_model


def tiny_file(path, seed: int):
    torch.manual_seed(seed)
    model = UNet(1, 2, base_channels=4, depth=2, padding="same", batch_norm=True)
    return save_model(model, path, name=f"tiny {seed}")


def test_a_file_saved_again_is_read_again_and_few_models_stay_loaded(tmp_path):
    path = tiny_file(tmp_path / "m", 0)
    first = _jobs.load_model_cached(str(path), "cpu")
    assert _jobs.load_model_cached(str(path), "cpu") is first  # kept loaded
    tiny_file(tmp_path / "m", 1)  # the same name, new weights
    os.utime(path, ns=(1, 1))  # even with the same size and an older time
    second = _jobs.load_model_cached(str(path), "cpu")
    assert second is not first and second.card.name == "tiny 1"
    for i in range(6):
        _jobs.load_model_cached(str(tiny_file(tmp_path / f"n{i}", i)), "cpu")
    assert len(_jobs._MODELS) <= _jobs._KEEP


def test_a_version_is_found_by_identity(tmp_path):
    from unet_core.loop import LoopError, LoopProject, Version, Workspace

    ws = Workspace()
    model = UNet(1, 2, base_channels=4, depth=2, padding="same", batch_norm=True)
    version = Version("drive", "em", "em", model=model)  # named like a bundled model
    project = LoopProject(tmp_path / "p")
    project.versions.append(version)
    ws.attach(project)
    assert _jobs.resolve_model(ws, version.ref, "cpu") is model
    assert _jobs.resolve_model(ws, "drive", "cpu") is not model  # the bundled one
    with pytest.raises(LoopError, match="open its project first"):
        _jobs.resolve_model(Workspace(), version.ref, "cpu")
    assert _jobs.resolve_model(ws, "drive", "cpu").card.task == "fundus"
