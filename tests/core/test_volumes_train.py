"""Training from sparse annotation of volumes: a 3-D U-Net learns the unpainted slices, the
recipe chooses 2-D or 3-D from the data and says why, ``train --dims``/``--voxel-size``."""

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from unet_core.base.labels import IGNORE_LABEL
from unet_core.cli import main
from unet_core.data.folders import check_arrays
from unet_core.formats.store import load_model
from unet_core.inference.predictor import Predictor
from unet_core.training import volumes
from unet_core.training.own_data import train


def nuclei(shape, n, seed):
    """A volume of blurred ellipsoids in noise, and its (D, H, W) labels."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.indices(shape)
    lab = np.zeros(shape, bool)
    for _ in range(n):
        c = rng.uniform(0, 1, 3) * np.array(shape)
        r = rng.uniform(3, 6, 3)
        lab |= ((zz - c[0]) / r[0]) ** 2 + ((yy - c[1]) / r[1]) ** 2 + ((xx - c[2]) / r[2]) ** 2 < 1
    img = ndimage.gaussian_filter(lab.astype(np.float32), 1.0) + rng.normal(0, 0.3, shape)
    return (np.clip(img, -1, 2) * 80 + 60).astype(np.uint8), lab.astype(np.uint8)


def sparse(labels, every):
    out = np.full(labels.shape, IGNORE_LABEL, np.uint8)
    out[::every] = labels[::every]
    return out


def iou(pred, truth):
    return ((pred == 1) & (truth == 1)).sum() / max(1, ((pred == 1) | (truth == 1)).sum())


def test_3d_model_learns_unpainted_slices_from_a_few_painted_ones(tmp_path):
    vol, lab = nuclei((24, 40, 40), 14, 0)
    data = check_arrays([vol], [sparse(lab, 6)], ["v"])
    assert data.spatial_dims == 3
    result = train(data, tmp_path / "vol", steps=120, size="small", device="cpu")
    model = load_model(result.path, device="cpu")
    assert model.spatial_dims == 3
    card = model.card
    assert "3-D U-Net learns the unpainted slices" in card.provenance["choices"]["dims"]
    pred = Predictor(model, device="cpu")(vol).argmax(0)
    unpainted = np.ones(len(vol), bool)
    unpainted[::6] = False
    other_vol, other_lab = nuclei((24, 40, 40), 14, 1)
    other = Predictor(model, device="cpu")(other_vol).argmax(0)
    chance = lab.mean()  # IoU of painting everything foreground
    print(f"IoU unpainted {iou(pred[unpainted], lab[unpainted]):.3f}, other volume "
          f"{iou(other, other_lab):.3f}, chance {chance:.3f}")
    # 0.77 before patches placed the painted slices at random depths: the network had learnt
    # the depths of the painted slices in a patch, and little between them
    assert iou(pred[unpainted], lab[unpainted]) > 0.8 > 3 * chance
    assert iou(other, other_lab) > 0.8


def test_the_recipe_chooses_dims_from_the_data_and_says_why():
    vol, lab = nuclei((12, 32, 32), 4, 2)
    data = check_arrays([vol], [sparse(lab, 3)], ["v"])
    assert volumes.choose_dims(data, None)[0] == 3
    thin = check_arrays([vol[:5]], [sparse(lab, 3)[:5]], ["t"])
    dims, why = volumes.choose_dims(thin, None)
    assert dims == 2 and "too thin" in why
    slices = volumes.as_slices(data)
    assert slices.spatial_dims == 2 and slices.names == ["v[0]", "v[3]", "v[6]", "v[9]"]
    images = check_arrays([vol[0]], [lab[0]], ["i"])
    assert volumes.choose_dims(images, None) == (2, "2-D images")
    with pytest.raises(ValueError, match="--dims 3 needs volumes"):
        volumes.choose_dims(images, 3)
    with pytest.raises(Exception, match="mix 2-D images and volumes"):
        check_arrays([vol, vol[0]], [lab, lab[0]], ["a", "b"])
    with pytest.raises(Exception, match="labels of v are 12 x 32 x 32 but the image is 5 x"):
        check_arrays([vol[:5]], [lab], ["v"])


def test_train_command_dims_and_voxel_size(tmp_path, capsys):
    vol, lab = nuclei((16, 32, 32), 6, 3)
    (tmp_path / "im").mkdir()
    (tmp_path / "lab").mkdir()
    tifffile.imwrite(tmp_path / "im" / "stack.tif", vol)
    tifffile.imwrite(tmp_path / "lab" / "stack.tif", sparse(lab, 4))
    args = ["train", "--images", str(tmp_path / "im"), "--labels", str(tmp_path / "lab"),
            "--steps", "2", "--size", "small", "--device", "cpu"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "a"), "--voxel-size", "5,1,1"]) == 0
    a = load_model(tmp_path / "a.safetensors", device="cpu")
    assert a.spatial_dims == 3 and a.pools[0] == (1, 2, 2)  # in-plane first: 5x longer in z
    assert "3-D U-Net" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "b"), "--dims", "2"]) == 0
    b = load_model(tmp_path / "b.safetensors", device="cpu")
    assert b.spatial_dims == 2 and "asked for (2-D)" in b.card.provenance["choices"]["dims"]
    assert main([*args, "--out", str(tmp_path / "c"), "--voxel-size", "5,1"]) == 2
    assert "--voxel-size needs three positive numbers" in capsys.readouterr().err
