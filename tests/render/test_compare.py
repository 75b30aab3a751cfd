"""The comparison's Document: phases side by side, the method and its threshold stated."""

from __future__ import annotations

from perfkit.bench.compare import compare_runs
from perfkit.render.compare import compare_document
from perfkit.render.markdown import document
from tests.render.support import hand_run


def test_compare_markdown() -> None:
    before = hand_run([150.0] * 20, [1.0] * 50 + [1.1] * 50)
    after = hand_run([50.0] * 20, [1.0] * 50 + [1.1] * 50)
    text = document(compare_document(compare_runs(before, after)))
    assert text.startswith("**perfkit compare**\n\n| route | phase | n before/after |")
    cold = next(line for line in text.splitlines() if "| `cold` |" in line)
    assert "150 → 50.0" in cold and "faster" in cold
    warm = next(line for line in text.splitlines() if "| `warm` |" in line)
    assert "no-change" in warm
    # the pooled `all` row is shown but not judged: 2 comparisons in Holm's family
    assert "Holm-corrected over 2 comparisons" in text
    pooled = next(line for line in text.splitlines() if "| `all` |" in line)
    assert "not judged (mixed)" in pooled
    assert "beyond ±5% (--min-change)" in text


def test_a_row_with_too_few_samples_reads_not_judged_and_no_empty_family() -> None:
    # 5 samples a side, 20 needed: shown, never called "no-change" beside its -66% change
    before = hand_run([150.0] * 5, [1.0] * 5)
    after = hand_run([50.0] * 5, [1.0] * 5)
    text = document(compare_document(compare_runs(before, after)))
    cold = next(line for line in text.splitlines() if "| `cold` |" in line)
    assert "not judged (too few samples)" in cold and "no-change" not in cold
    assert "no-change" not in text
    # nothing was tested: no "Holm-corrected over 0 comparison(s)"
    assert "over 0" not in text and "no row had enough samples for a test" in text
