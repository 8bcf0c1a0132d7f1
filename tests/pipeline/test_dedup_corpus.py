"""A generated corpus with planted near-duplicates at known Jaccard values, and the precision
and recall of near-dedup on it.

Run ``python -m tests.pipeline.test_dedup_corpus`` to print the figures.
"""

from __future__ import annotations

import random

from pipeline.minhash import jaccard

KEYWORDS = (
    "def",
    "return",
    "if",
    "else",
    "for",
    "in",
    "while",
    "import",
    "class",
    "self",
    "None",
    "True",
)


def _token(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return rng.choice(KEYWORDS)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz_") for _ in range(rng.randint(3, 9)))


def random_function(rng: random.Random, n_tokens: int = 160) -> list[str]:
    """A code-like token list (~1 KB of text) that shares almost no 5-grams with another."""
    return [_token(rng) for _ in range(n_tokens)]


def render(tokens: list[str]) -> str:
    lines, line = [], []
    for tok in tokens:
        line.append(tok)
        if len(line) >= 8:
            lines.append("    " + " ".join(line))
            line = []
    if line:
        lines.append("    " + " ".join(line))
    return "def f():\n" + "\n".join(lines) + "\n"


def variant_at(rng: random.Random, tokens: list[str], target: float) -> tuple[str, float]:
    """Mutate random tokens of ``tokens`` until the true Jaccard drops to ``target`` or below."""
    base = render(tokens)
    out = list(tokens)
    sim = 1.0
    order = list(range(len(out)))
    rng.shuffle(order)
    for pos in order:
        if sim <= target:
            break
        out[pos] = _token(rng)
        sim = jaccard(base, render(out))
    return render(out), sim


def make_corpus(
    n_pairs: int = 120, n_singletons: int = 60, seed: int = 7, low: float = 0.4, high: float = 0.97
):
    """Rows ``{id, code, license, exec_status, repository_name}`` and the planted pairs.

    Returns (rows, pairs) where pairs are ``(base_id, variant_id, true_jaccard)``; targets are
    spread evenly over [low, high]. Unrelated functions have Jaccard ~0.
    """
    rng = random.Random(seed)
    rows, pairs = [], []
    for i in range(n_pairs):
        target = low + (high - low) * i / max(n_pairs - 1, 1)
        toks = random_function(rng)
        variant, sim = variant_at(rng, toks, target)
        a, b = f"p{i:04d}a", f"p{i:04d}b"
        rows.append(
            {
                "id": a,
                "code": render(toks),
                "license": "mit",
                "exec_status": "passed",
                "repository_name": f"repo{i % 37}",
            }
        )
        rows.append(
            {
                "id": b,
                "code": variant,
                "license": "gpl-3.0",
                "exec_status": "failed",
                "repository_name": f"repo{(i * 7) % 41}",
            }
        )
        pairs.append((a, b, sim))
    for i in range(n_singletons):
        rows.append(
            {
                "id": f"s{i:04d}",
                "code": render(random_function(rng)),
                "license": None,
                "exec_status": None,
                "repository_name": f"repo{i % 13}",
            }
        )
    return rows, pairs


def precision_recall(pairs, removed_ids: set[str], threshold: float = 0.7, margin: float = 0.0):
    """Pair-level precision/recall: a planted pair is predicted a duplicate when its variant
    (or base) was removed; truth is ``true Jaccard >= threshold``. Pairs within ``margin`` of
    the threshold are left out (they sit inside the estimator's sampling error)."""
    tp = fp = fn = 0
    for a, b, sim in pairs:
        if abs(sim - threshold) < margin:
            continue
        predicted = a in removed_ids or b in removed_ids
        actual = sim >= threshold
        tp += predicted and actual
        fp += predicted and not actual
        fn += actual and not predicted
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, tp, fp, fn


def test_planted_pairs_have_the_planted_jaccard():
    rows, pairs = make_corpus(n_pairs=20, n_singletons=5)
    code = {r["id"]: r["code"] for r in rows}
    for i, (a, b, sim) in enumerate(pairs):
        target = 0.4 + (0.97 - 0.4) * i / 19
        assert target - 0.05 <= sim <= target + 1e-9
        assert abs(jaccard(code[a], code[b]) - sim) < 1e-12
    assert jaccard(code["s0000"], code["s0001"]) < 0.05


def _near_removed_ids(rows, config) -> set[str]:
    """Run NearDedup on DirectRunner and return the removed ids (read back from a file)."""
    import json
    import tempfile
    from pathlib import Path

    import apache_beam as beam

    from pipeline.dedup import NearDedup

    with tempfile.TemporaryDirectory() as tmp:
        out_path = Path(tmp) / "removed.json"

        def save(ids):
            out_path.write_text(json.dumps(sorted(ids)))

        with beam.Pipeline() as p:
            out = p | beam.Create(rows) | NearDedup(config)
            (
                out["removed"]
                | beam.Map(lambda r: r["id"])
                | beam.combiners.ToList()
                | beam.Map(save)
            )
        return set(json.loads(out_path.read_text()))


def main(argv: list[str] | None = None) -> int:
    """Print precision/recall of near-dedup on the planted corpus for several settings."""
    from pipeline.minhash import MinHashConfig

    rows, pairs = make_corpus()
    print(
        f"# planted corpus: {len(pairs)} pairs, true Jaccard {min(p[2] for p in pairs):.2f}-"
        f"{max(p[2] for p in pairs):.2f}, {sum(p[2] >= 0.7 for p in pairs)} at >= 0.7; "
        f"{len(rows) - 2 * len(pairs)} singletons; threshold 0.7, 256 perms, 5-grams"
    )
    print(
        "verify | bands x rows | precision | recall | precision (|J-0.7|>=0.05) | recall (|J-0.7|>=0.05) | tp fp fn"
    )
    for verify, fpw, fnw in (
        ("signature", 0.5, 0.5),
        ("exact", 0.5, 0.5),
        ("none", 0.5, 0.5),
        ("signature", 0.1, 0.9),
        ("exact", 0.1, 0.9),
    ):
        cfg = MinHashConfig(verify=verify, false_positive_weight=fpw, false_negative_weight=fnw)
        removed = _near_removed_ids(rows, cfg)
        p, r, tp, fp, fn = precision_recall(pairs, removed)
        fp_, fr_, *_ = precision_recall(pairs, removed, margin=0.05)
        b, rr = cfg.band_rows
        print(f"{verify} | {b}x{rr} | {p:.3f} | {r:.3f} | {fp_:.3f} | {fr_:.3f} | {tp} {fp} {fn}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
