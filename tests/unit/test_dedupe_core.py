"""Embedding cache, FAISS neighbours and duplicate grouping — with the real default model and FAISS."""

from __future__ import annotations

import numpy as np
import pytest

from kgtools.dedupe.embed import Embedder, EmbedderError, EmbeddingCache
from kgtools.dedupe.groups import compatible, find_duplicates, normalise_text
from kgtools.dedupe.index import neighbours


@pytest.fixture(scope="module")
def embedder():
    return Embedder()


def test_cache_embeds_only_new_texts(embedder, tmp_path):
    cache = EmbeddingCache(tmp_path)
    texts = [f"What is a symptom of disease number {i}?" for i in range(50)]
    first, computed = cache.embed(embedder, texts)
    again, recomputed = cache.embed(embedder, [*texts, "A new question?", texts[3]])
    assert computed == 50 and recomputed == 1
    np.testing.assert_allclose(again[:50], first, rtol=1e-6)
    np.testing.assert_allclose(again[51], first[3], rtol=1e-6)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)


def test_missing_model_path_is_a_clear_error(tmp_path):
    with pytest.raises(EmbedderError, match="no such model folder"):
        Embedder(tmp_path / "nowhere")


def test_planted_duplicates_found_and_the_template_trap_avoided(embedder):
    texts = [
        "What is a symptom of influenza?",          # 0
        "what is a  symptom of Influenza ?",        # 1 re-cased, re-spaced: exact after normalising
        "Name a symptom of influenza.",             # 2 another template, same fact
        "What is a symptom of parainfluenza?",      # 3 near in embedding space, a different fact
        "Which drug treats tuberculosis?",          # 4 unrelated
    ]
    triples = [frozenset({"flu|sym|fever"}), frozenset({"flu|sym|fever"}), frozenset({"flu|sym|fever"}),
               frozenset({"para|sym|fever"}), frozenset({"tb|treat|inh"})]
    vectors = embedder.encode(texts)
    near = neighbours(vectors, k=4)
    result = find_duplicates(texts, triples, vectors, near, threshold=0.55)
    removed = {r.index: r for r in result.removed}
    assert set(removed) == {1, 2} and removed[1].reason == "exact" and removed[2].reason == "semantic"
    assert 3 in result.keep and 0 in result.keep and 4 in result.keep
    assert result.different_facts_above_threshold >= 1  # influenza/parainfluenza: counted, never merged
    assert normalise_text(texts[1]) == normalise_text(texts[0])
    assert compatible(frozenset({"a"}), frozenset({"a", "b"})) and not compatible(frozenset({"a"}), frozenset({"b"}))


def test_chains_are_verified_against_the_kept_record():
    # a, b, c on a line: a~b and b~c above 0.9, a~c below — c must not be removed as a duplicate of a
    vectors = np.array([[1, 0, 0], [0.95, 0.3122, 0], [0.81, 0.5864, 0]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    near = neighbours(vectors, k=2)
    result = find_duplicates(["a", "b", "c"], [None, None, None], vectors, near, threshold=0.94)
    assert [r.index for r in result.removed] == [1] and result.keep == [0, 2] and result.unverified_in_chain == 1


def test_approximate_index_recall_on_20000_items():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((10_000, 64)).astype(np.float32)
    noisy = base + 0.05 * rng.standard_normal(base.shape).astype(np.float32)
    x = np.vstack([base, noisy])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    exact = set((i, j) for i, j, _ in neighbours(x, k=5, exact_below=10**9).pairs(0.95))
    for method in ("ivf", "hnsw"):
        approx = set((i, j) for i, j, _ in neighbours(x, k=5, exact_below=0, approximate=method).pairs(0.95))
        recall = len(exact & approx) / len(exact)
        print(f"\n{method} recall of exact pairs ≥ 0.95 on 20,000 items: {recall:.4f} ({len(exact)} pairs)")
        assert len(exact) >= 9_000 and recall >= 0.95
