"""The lattice binomial sampler's guide table only speeds up the search: draws from the same
stream are identical whatever the guide's size (seed 11)."""

from __future__ import annotations

import numpy as np
import pytest

from modelcollapse.families import lattice_binomial as lb


@pytest.mark.parametrize("n", [1, 7, 100])
def test_guide_size_changes_no_draw(monkeypatch, n):
    counts = np.random.default_rng(11).integers(0, n + 1, 20_000)
    draws = []
    for entries in (0, 1 << 30):  # the coarsest (4 per row) and the finest (64 per row) guide
        monkeypatch.setattr(lb, "GUIDE_ENTRIES", entries)
        table = lb.LatticeBinomial(n)
        assert table.size == (4 if entries == 0 else 64) * (n + 1)
        draws.append(table.draw(counts, np.random.default_rng(12)))
    np.testing.assert_array_equal(draws[0], draws[1])
    assert draws[0].min() >= 0 and draws[0].max() <= n
