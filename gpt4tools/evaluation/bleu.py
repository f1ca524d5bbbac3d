"""BLEU-1 exactly as pycocoevalcap's ``Bleu(n=1).compute_score`` computes it for one hypothesis.

The original GPT4Tools scorer compares text arguments with pycocoevalcap (``Bleu(n=1)``, one
reference, one hypothesis). Its arithmetic is reproduced here operation by operation so scores are
bit-identical without depending on that package (which ships 100 MB of Java jars):

* tokens are ``str.split()`` (any whitespace, nothing else; punctuation stays on the word);
* clipped unigram matches ``correct`` over hypothesis length ``guess``, each offset by the
  package's smoothing constants: ``(correct + 1e-15) / (guess + 1e-9)``;
* brevity penalty from the *closest* reference length: with
  ``ratio = (testlen + 1e-15) / (reflen + 1e-9)``, the score is multiplied by ``exp(1 - 1/ratio)``
  when ``ratio < 1`` - which is also the case for equal lengths, so an exact match scores
  0.9999999997... rather than 1.0, and an empty hypothesis scores 0.0.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

SMALL = 1e-9
TINY = 1e-15


def bleu1(references: str | Sequence[str], hypothesis: str) -> float:
    """Corpus BLEU-1 of one hypothesis against its reference(s), as pycocoevalcap computes it."""
    refs = [references] if isinstance(references, str) else list(references)
    if not refs:
        raise ValueError("bleu1 needs at least one reference")
    words = hypothesis.split()
    testlen = len(words)
    ref_lens = []
    max_counts: Counter[str] = Counter()
    for ref in refs:
        ref_words = ref.split()
        ref_lens.append(len(ref_words))
        for word, count in Counter(ref_words).items():
            max_counts[word] = max(max_counts[word], count)
    reflen = min((abs(length - testlen), length) for length in ref_lens)[1]  # "closest"
    correct = sum(min(max_counts.get(word, 0), count) for word, count in Counter(words).items())
    guess = max(0, testlen)
    score = float(correct + TINY) / (guess + SMALL)
    ratio = (testlen + TINY) / (reflen + SMALL)
    if ratio < 1:
        score *= math.exp(1 - 1 / ratio)
    return score
