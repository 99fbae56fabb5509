"""`make bench-scale` at 1,000 chunks, as CI's smoke test of the scale benchmark: a real `rag ingest` and
`rag serve` on the synthetic corpus, and the planted answers found."""

import json

import pytest

from eval import bench_scale

pytestmark = pytest.mark.integration


def test_the_scale_benchmark_runs_at_1k_chunks_and_finds_the_planted_answers(tmp_path):
    out = tmp_path / "reports"
    assert bench_scale.main(["--chunks", "1000", "--questions", "10", "--writes", "1",
                             "--work", str(tmp_path / "work"), "--out", str(out)]) == 0  # fmt: skip
    [report] = out.glob("bench-scale-*.json")
    [result] = json.loads(report.read_text())
    assert 950 <= result["chunks"] <= 1050 and result["ingest_chunks_per_s"] > 0
    assert result["planted_accuracy"] >= 0.9 and result["search_recall_at_5"] >= 0.9
    assert all(result[f"{kind}_one_ms"] > 0 for kind in ("add", "update", "delete"))
    assert (out / report.name.replace(".json", ".md")).is_file()
