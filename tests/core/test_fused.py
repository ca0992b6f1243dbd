"""The inference form of a network (batch norm folded, convolution and ReLU fused): the same
outputs as the model in eval mode, the model itself untouched, and always today's weights."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from unet_core import Predictor, UNet
from unet_core.model.build import build_model
from unet_core.model.fused import ConvReLU, inference_form, onednn_fusion


def trained_like(model: UNet, seed: int = 0) -> UNet:
    """Batch-norm statistics and affine parameters far from their initial values, as after
    training, so that folding them is not the identity."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) * 2 + 0.2)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.2)
    return model


@pytest.mark.parametrize(
    "arch",
    [
        dict(padding="same", batch_norm=True),
        dict(padding="valid", batch_norm=False),
        dict(padding="same", batch_norm=True, refine=4),
        dict(padding="same", batch_norm=True, drop_block=0.1),
    ],
)
def test_inference_form_gives_the_eval_models_logits(arch):
    torch.manual_seed(0)
    model = trained_like(build_model(dict(in_channels=2, num_classes=3, base_channels=4, depth=2,
                                          **arch)))  # fmt: skip
    model.train()
    x = torch.randn(2, 2, 92, 92)
    net = inference_form(model)
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.ReLU)) for m in net.modules())
    assert sum(isinstance(m, ConvReLU) for m in net.modules()) == sum(
        isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3) for m in model.modules()
    )
    with torch.inference_mode():
        got = net(x)
        model.eval()
        want = model(x)
    torch.testing.assert_close(got, want, atol=2e-5, rtol=1e-4)
    # the model itself is untouched: its layers, its gradients
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == arch["batch_norm"]
    assert all(p.requires_grad for p in model.parameters())


def test_bf16_form_is_as_close_to_fp32_as_autocast():
    torch.manual_seed(1)
    model = trained_like(UNet(base_channels=8, depth=3, padding="same", batch_norm=True)).eval()
    x = torch.randn(1, 1, 128, 128)
    net = inference_form(model, torch.bfloat16)
    assert all(p.dtype == torch.bfloat16 for p in net.parameters())
    # fused in bf16 only where oneDNN's bf16 path runs on this CPU (AVX-512 or AVX-NE-CONVERT);
    # elsewhere plain bf16 convolutions, which any CPU runs
    assert {m.fused for m in net.modules() if isinstance(m, ConvReLU)} == {
        onednn_fusion(torch.bfloat16)}
    with torch.inference_mode():
        want = model(x).softmax(1)
        got = (net(x.bfloat16()).float().softmax(1) - want).abs()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            autocast = (model(x).float().softmax(1) - want).abs()
    assert got.mean() < 0.005 and got.mean() < 2 * autocast.mean()
    assert got.max() < 2 * autocast.max() + 0.02


def test_fused_and_plain_convolutions_agree():
    """oneDNN's convolution-with-ReLU against conv2d + relu (where this torch has it)."""
    if not onednn_fusion():
        pytest.skip("this torch build has no oneDNN convolution fusion")
    g = torch.Generator().manual_seed(2)
    w, b = torch.randn(8, 4, 3, 3, generator=g), torch.randn(8, generator=g)
    x = torch.randn(1, 4, 33, 40, generator=g).contiguous(memory_format=torch.channels_last)
    for padding in (0, 1):
        fused, plain = ConvReLU(w, b, padding, True), ConvReLU(w, b, padding, False)
        with torch.inference_mode():
            torch.testing.assert_close(fused(x), plain(x), atol=1e-5, rtol=1e-5)
    assert all(m.fused for m in inference_form(UNet(base_channels=4, depth=1)).modules()
               if isinstance(m, ConvReLU))  # fmt: skip


def test_predictor_sees_weights_changed_in_place():
    """Fine-tuning changes the model's weights in place between predictions: the predictor
    must not keep an inference copy of the old ones."""
    torch.manual_seed(3)
    model = trained_like(UNet(base_channels=4, depth=2, padding="same", batch_norm=True))
    image = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    predictor = Predictor(model, device="cpu", scale=1.0, precision="fp32")
    before = predictor(image)
    with torch.no_grad():
        model.head.bias[1] += 3.0  # more of class 1 everywhere
    after = predictor(image)
    assert (after[1] > before[1]).all() and (after[1] - before[1]).mean() > 0.05
    fresh = Predictor(copy.deepcopy(model), device="cpu", scale=1.0, precision="fp32")
    np.testing.assert_array_equal(after, fresh(image))


def test_the_inference_form_is_made_again_only_when_weights_change():
    torch.manual_seed(4)
    model = UNet(base_channels=4, depth=2, padding="same", batch_norm=True)
    predictor = Predictor(model, device="cpu", precision="fp32")
    net = predictor.network.net()
    assert predictor.network.net() is net
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model.train()
    loss = model(torch.randn(2, 1, 32, 32)).square().mean()  # also moves the BN statistics
    loss.backward()
    optimizer.step()
    assert predictor.network.net() is not net
    net = predictor.network.net()
    model.load_state_dict(copy.deepcopy(model.state_dict()))
    assert predictor.network.net() is not net
