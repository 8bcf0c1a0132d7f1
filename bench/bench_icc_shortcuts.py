"""ICC shortcuts: how well the label can be guessed without reading the code, before and after.

In-context classification asks whether the k snippets of a context come from one repository.
A classifier that sees only the number of ``<sep>`` tokens (= k), or only the context's
length, should be at chance (50%). The sampler before issue 18 (kept here verbatim as
``legacy_context``) built positives from ``min(k, len(repository))`` snippets and negatives
from k, so on repositories of CodeSearchNet's sizes the ``<sep>`` count predicted the label;
and since a function and its translations were separate snippets of their repository, a
positive context could contain a function and its own translation.

For each sampler this prints, on contexts drawn from the data (two halves: fit on one,
score on the other): the accuracy of the best classifier on the <sep> count (majority label
per count), of the best threshold on the context's length in characters, and the share of
positive contexts holding two texts of one source function.

    python bench/bench_icc_shortcuts.py [--data=DIR] [--contexts=20000] [--repos=2000]

Without ``--data``: real functions mined from the Python standard library, spread over
repositories whose sizes follow a CodeSearchNet-like long tail (log-normal, median 3
functions; CSN's repositories range from 1 to thousands of functions), each function with
0-2 "translations" (other real functions standing in for them: only the structure matters).
"""

from __future__ import annotations

import argparse
import random
import sys
import sysconfig
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.data import PretrainSampler, read_release, repository_units  # noqa: E402
from model.demo_data import mine_tree  # noqa: E402


def legacy_context(
    groups: dict[str, list[str]], rng: random.Random, snippets=(2, 4), p_different=0.5
) -> tuple[list[str], int]:
    """The pre-issue-18 ``PretrainSampler._context`` (repository -> flat list of texts)."""
    repos = sorted(groups)
    multi = [r for r in repos if len(groups[r]) >= 2]
    k = rng.randint(*snippets)
    if rng.random() < p_different:
        first = rng.choice(repos)
        others = [r for r in repos if r != first]
        chosen = [first] + [rng.choice(others) for _ in range(k - 1)]
        return [rng.choice(groups[r]) for r in chosen], 0
    repo = rng.choice(multi)
    codes = groups[repo]
    return rng.sample(codes, min(k, len(codes))), 1


def csn_like_units(
    n_repos: int, max_translations: int, seed: int = 0
) -> dict[str, list[list[str]]]:
    """Real stdlib functions dealt to repositories of log-normal sizes (median 3 functions);
    each function gets 0..max_translations extra texts standing in for its translations.
    Every text is made unique (a trailing comment when the pool is reused)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    texts = [r.func1_CSN for r in mine_tree(stdlib, max_functions=20000, max_per_repository=2000)]
    rng = random.Random(seed)
    rng.shuffle(texts)
    counter = 0

    def text() -> str:
        nonlocal counter
        counter += 1
        base = texts[counter % len(texts)]
        return base if counter < len(texts) else f"{base}# {counter}\n"

    groups = {}
    for r in range(n_repos):
        size = max(1, round(rng.lognormvariate(1.1, 1.2)))
        groups[f"repo{r}"] = [
            [text() for _ in range(1 + rng.randint(0, max_translations))] for _ in range(size)
        ]
    return groups


def shortcut_accuracy(samples: list[tuple[list[str], int]]) -> tuple[float, float]:
    """(accuracy from the snippet count, from the best length threshold), fit on the first
    half of the samples and scored on the second."""
    half = len(samples) // 2
    fit, score = samples[:half], samples[half:]
    by_count: dict[int, Counter] = {}
    for codes, label in fit:
        by_count.setdefault(len(codes), Counter())[label] += 1
    guess = {k: c.most_common(1)[0][0] for k, c in by_count.items()}
    count_acc = sum(guess.get(len(codes), 1) == label for codes, label in score) / len(score)
    lengths = sorted((sum(map(len, codes)), label) for codes, label in fit)
    positives = sum(label for _, label in lengths)
    best, threshold, above_is_positive = 0.0, 0, True
    below_pos = 0
    for i, (length, label) in enumerate(lengths):
        below_pos += label
        # predict positive above `length`, or below it
        above = (i + 1 - below_pos) + (positives - below_pos)
        for acc, direction in ((above, True), (len(lengths) - above, False)):
            if acc / len(lengths) > best:
                best, threshold, above_is_positive = acc / len(lengths), length, direction
    length_acc = sum(
        ((sum(map(len, codes)) > threshold) == above_is_positive) == bool(label)
        for codes, label in score
    ) / len(score)
    return count_acc, length_acc


def same_unit_share(samples: list[tuple[list[str], int]], unit_of: dict[str, int]) -> float:
    positives = [codes for codes, label in samples if label == 1]
    twins = sum(len({unit_of[c] for c in codes}) < len(codes) for codes in positives)
    return twins / max(1, len(positives))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None, help="release shards DIR (default: CSN-like)")
    parser.add_argument("--contexts", type=int, default=20000)
    parser.add_argument("--repos", type=int, default=2000)
    parser.add_argument(
        "--max_translations",
        type=int,
        default=2,
        help="CSN-like data: translations per function, 0..N (0: CSN itself)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.data:
        groups = repository_units(read_release(args.data))
        source = f"release shards {args.data}"
    else:
        groups = csn_like_units(args.repos, args.max_translations, args.seed)
        source = (
            f"{args.repos} CodeSearchNet-like repositories of stdlib functions, "
            f"0-{args.max_translations} translations each"
        )
    unit_of = {
        t: hash((repo, i))
        for repo, units in groups.items()
        for i, unit in enumerate(units)
        for t in unit
    }
    sizes = sorted(len(u) for u in groups.values())
    flat = {repo: [t for unit in units for t in unit] for repo, units in groups.items()}
    rng = random.Random(args.seed)
    legacy = [legacy_context(flat, rng) for _ in range(args.contexts)]

    new = _new_sampler(groups)
    rng = random.Random(args.seed)
    current = [new.context(rng) for _ in range(args.contexts)]
    print(
        f"# bench_icc_shortcuts: {source}; {len(groups)} repositories, functions per "
        f"repository median {sizes[len(sizes) // 2]}, max {sizes[-1]}; "
        f"{args.contexts} contexts per sampler, 2-4 snippets; chance = 0.50"
    )
    print("case | baseline (before) | candidate (after) | ratio | n")
    for name, index in (
        ("<sep>-count classifier accuracy", 0),
        ("length-threshold classifier accuracy", 1),
    ):
        before, after = shortcut_accuracy(legacy)[index], shortcut_accuracy(current)[index]
        print(f"{name} | {before:.3f} | {after:.3f} | {before / after:.2f}x | {args.contexts}")
    before, after = same_unit_share(legacy, unit_of), same_unit_share(current, unit_of)
    print(
        f"positives holding a function and its own translation | {before:.3f} | {after:.3f} | "
        f"- | {args.contexts}"
    )
    return 0


def _new_sampler(groups: dict[str, list[list[str]]]) -> PretrainSampler:
    """The current sampler; a tiny BPE stands in for the tokenizer (context() uses none)."""
    from model.tokenizer import MoseTokenizer

    texts = [t for units in list(groups.values())[:50] for unit in units for t in unit]
    return PretrainSampler(groups, MoseTokenizer.train(texts, 300), 2048, seed=0)


if __name__ == "__main__":
    sys.exit(main())
