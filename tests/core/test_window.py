"""The sliding window over N spatial axes, with plain numpy callables in place of a network."""

import numpy as np
import pytest
from scipy import ndimage

from unet_core.base.events import Progress
from unet_core.base.jobs import drain
from unet_core.inference.window import SlidingWindow


def centre(batch: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """The centre ``size`` of each tile: a 'network' that returns its input."""
    lo = [(n - s) // 2 for n, s in zip(batch.shape[2:], size)]
    return batch[(slice(None), slice(None), *(slice(a, a + s) for a, s in zip(lo, size)))]


def box_mean(batch: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """A local operator over every spatial axis (3 px wide), then the centre."""
    smooth = ndimage.uniform_filter(batch, size=(1, 1) + (3,) * (batch.ndim - 2), mode="mirror")
    return centre(smooth, size)


def window(tile, margin, overlap, blend, batch_size=1, accept=None):
    return SlidingWindow(tile=tile, margin=margin, overlap=overlap, grid=4, min_out=4,
                         blend=blend, batch_size=batch_size, accept=accept)  # fmt: skip


@pytest.mark.parametrize("shape", [(37, 53), (19, 23, 29)])
@pytest.mark.parametrize("blend", [True, False])
def test_tiles_give_back_the_array_in_2d_and_3d(shape, blend):
    array = np.random.default_rng(0).random((2, *shape)).astype(np.float32)
    w = window(tile=16, margin=4, overlap=4 if blend else 0, blend=blend)
    assert len(w.plan(shape)) > 2 ** len(shape)  # several tiles along every axis
    out = drain(w.run(centre, array, classes=2))
    np.testing.assert_allclose(out, array, rtol=1e-6, atol=1e-6)


def test_a_local_operator_tiled_equals_one_pass_over_a_volume():
    array = np.random.default_rng(1).random((1, 21, 30, 26)).astype(np.float32)
    whole = ndimage.uniform_filter(array, size=(1, 3, 3, 3), mode="mirror")
    out = drain(window(tile=16, margin=4, overlap=0, blend=False).run(box_mean, array, 1))
    np.testing.assert_allclose(out, whole, atol=1e-6)


def test_progress_counts_every_tile_once():
    array = np.zeros((1, 40, 40), np.float32)
    w = window(tile=16, margin=4, overlap=0, blend=False, batch_size=3)
    events = []
    drain(w.run(centre, array, 1), events.append)
    assert all(isinstance(e, Progress) and e.unit == "tiles" for e in events)
    assert [e.done for e in events] == [0, 3, 6, 9, 12, 15, 16] and events[-1].total == 16


def test_out_of_memory_is_tried_again_in_smaller_pieces(caplog):
    array = np.random.default_rng(2).random((1, 50, 44)).astype(np.float32)
    calls = []

    def tight(batch, size):  # fits one tile of at most 20 px at a time
        calls.append(batch.shape)
        if batch.shape[0] > 1 or batch.shape[2] > 20:
            raise MemoryError("out of memory")
        return centre(batch, size)

    w = window(tile=40, margin=4, overlap=0, blend=False, batch_size=4,
               accept=lambda size: max(12, size // 4 * 4))  # fmt: skip
    out = drain(w.run(tight, array, 1))
    np.testing.assert_array_equal(out, array)
    assert calls[0][0] == 4 and calls[0][2] > 20 and calls[-1][0] == 1 and calls[-1][2] <= 20
    assert "trying again with" in caplog.text


def test_out_of_memory_with_the_smallest_tile_is_one_line():
    def never(batch, size):
        raise MemoryError("out of memory")

    w = window(tile=16, margin=4, overlap=0, blend=False, accept=lambda size: 16)
    with pytest.raises(MemoryError, match="even with one tile of 16 px"):
        drain(w.run(never, np.zeros((1, 30, 30), np.float32), 1))


def test_out_is_checked_and_filled():
    array = np.ones((1, 24, 24), np.float32)
    w = window(tile=16, margin=4, overlap=4, blend=True)
    with pytest.raises(ValueError, match="float32 of shape"):
        drain(w.run(centre, array, 1, out=np.zeros((1, 24, 23), np.float32)))
    out = np.full((1, 24, 24), 7, np.float32)
    assert drain(w.run(centre, array, 1, out=out)) is out
    np.testing.assert_allclose(out, 1, atol=1e-6)


def test_a_failed_batch_is_let_go_before_the_retry():
    """What the failed call held (on a GPU: its input and activations) is freed before the
    smaller pieces run, not kept alive by the exception's traceback."""
    import weakref

    class Held:
        pass

    refs = []

    def forward(batch, size):
        if batch.shape[0] > 1:
            held = Held()  # noqa: F841 - a frame's tensor, for the traceback to keep
            refs.append(weakref.ref(held))
            raise MemoryError("out of memory")
        assert refs and all(r() is None for r in refs)
        return centre(batch, size)

    array = np.zeros((1, 30, 30), np.float32)
    drain(window(tile=16, margin=4, overlap=0, blend=False, batch_size=2).run(forward, array, 1))
