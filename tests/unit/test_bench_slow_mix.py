"""The peers benchmark's mixed load: which requests are slow, and the ceiling it implies."""

from __future__ import annotations

from bench.slow_mix import MARK, SlowMix


def test_every_kth_prompt_is_marked_and_given_its_own_latency() -> None:
    mix = SlowMix(every=4, latency_s=1.0)
    marked = mix.mark([(f"k{i}", f"prompt {i}") for i in range(9)])
    slow = [key for key, prompt in marked if prompt.startswith(MARK)]
    assert slow == ["k0", "k4", "k8"]
    assert [mix.latency_for({"prompt": prompt}) for _, prompt in marked[:2]] == [1.0, None]
    assert mix.latency_for({"messages": []}) is None


def test_the_ceiling_is_the_slots_over_the_mean_call_time() -> None:
    assert SlowMix(every=50, latency_s=1.0).mean_latency(0.05) == (49 * 0.05 + 1.0) / 50
    assert SlowMix().mean_latency(0.05) == 0.05
    assert SlowMix().mark([("k", "p")]) == [("k", "p")]
