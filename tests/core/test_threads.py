"""The thread tuner settles on the thread count whose steps are fastest, and re-checks."""

import time

import pytest
import torch

from unet_core.training.threads import ThreadTuner, available_cores


def run_steps(tuner: ThreadTuner, n: int, seconds_at: dict) -> list[int]:
    used = []
    for _ in range(n):
        threads = torch.get_num_threads()
        used.append(threads)
        time.sleep(seconds_at[threads])
        tuner.step_done()
    return used


@pytest.mark.skipif(available_cores() < 2, reason="needs two cores to choose between")
@pytest.mark.parametrize("fast", [1, 2])
def test_tuner_keeps_the_faster_thread_count_and_restores_torch(fast):
    before = torch.get_num_threads()
    slow = 3 - fast
    with ThreadTuner(2, trial=2, recheck=20) as tuner:
        used = run_steps(tuner, 30, {fast: 0.005, slow: 0.03})
    assert tuner.best == fast
    # after the trials (steps 2-5) every step runs at the fast count, but for the re-check
    assert used[5:20].count(fast) == 15
    assert used[20:25].count(slow) == 2  # the re-check at step 20 tried the other one again
    assert torch.get_num_threads() == before


def test_one_thread_asked_means_one_thread():
    with ThreadTuner(1) as tuner:
        assert torch.get_num_threads() == 1
        run_steps(tuner, 5, {1: 0.0})
        assert tuner.threads == 1
