"""Host figures: the /proc readers and the server task that hands them to the naming state."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from nacosfast.naming.state import HostFigures, NamingState
from nacosfast.server.host import CpuSampler, HostSampler, memory_used, run_host_sampler
from tests.naming_helpers import MemoryJournal, RecordingPush


def test_cpu_sampler_reads_deltas(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3\n")
    sampler = CpuSampler(str(stat))
    assert sampler.sample() == pytest.approx(0.2)
    stat.write_text("cpu  150 0 150 800 100 0 0 0 0 0\n")
    assert sampler.sample() == pytest.approx(0.5)
    assert CpuSampler(str(tmp_path / "missing")).sample() == 0.0


def test_memory_used_reads_meminfo(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:  1000 kB\nMemFree:  100 kB\nMemAvailable:  250 kB\n")
    assert memory_used(str(meminfo)) == pytest.approx(0.75)
    assert memory_used(str(tmp_path / "missing")) == 0.0


async def test_sampler_task_replaces_the_state_figures_every_period(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    stat, meminfo = tmp_path / "stat", tmp_path / "meminfo"
    stat.write_text("cpu  100 0 100 800 0 0 0 0\n")
    meminfo.write_text("MemTotal:  1000 kB\nMemAvailable:  500 kB\n")
    state = NamingState(push=RecordingPush(), journal=MemoryJournal())
    assert state.host == HostFigures()
    sampler = HostSampler(CpuSampler(str(stat)), str(meminfo))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_host_sampler, state, sampler, 1_000)
        await trio.sleep(0.5)
        first = state.host
        assert (first.cpu, first.mem) == pytest.approx((0.2, 0.5))
        stat.write_text("cpu  200 0 200 800 0 0 0 0\n")  # fully busy since the first sample
        await trio.sleep(0.4)
        assert state.host is first  # not before the period is over
        await trio.sleep(0.2)
        assert state.host.cpu == pytest.approx(1.0)
        nursery.cancel_scope.cancel()
