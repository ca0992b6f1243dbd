"""The allocator setting: applied once, switchable off, and masks stay bit for bit the same."""

import os
import subprocess
import sys

import pytest

SCRIPT = """
import sys, numpy as np, torch
torch.manual_seed(0)
from unet_core.base.allocator import tune_allocator
from unet_core import UNet, Predictor, ModelCard
applied = tune_allocator()
model = UNet(1, 2, base_channels=8, depth=3, padding="same", batch_norm=True).eval()
model.card = ModelCard(model.config)
image = np.random.default_rng(0).random((600, 520)).astype(np.float32)
prob = Predictor(model, device="cpu", tile=256)(image)
np.save(sys.argv[1], prob)
print(applied)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_tuned_allocator_gives_the_same_probabilities_bit_for_bit(tmp_path):
    import numpy as np

    out = {}
    for mode in ("default", "tuned"):
        env = {"NAPARI_UNET_MALLOC": "default"} if mode == "default" else {}
        result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / f"{mode}.npy")],
                                capture_output=True, text=True, timeout=120,
                                env={**os.environ, **env})  # fmt: skip
        assert result.returncode == 0, result.stderr
        out[mode] = result.stdout.strip()
    assert out == {"default": "False", "tuned": "True"}
    np.testing.assert_array_equal(np.load(tmp_path / "default.npy"),
                                  np.load(tmp_path / "tuned.npy"))  # fmt: skip
