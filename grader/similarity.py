"""Find near-duplicate records: the same text copied with small edits.

The measure is the Jaccard similarity of character 5-gram *shingles*:

1. normalize the text: Unicode NFKC, lowercase, apostrophes dropped, other
   punctuation and symbols replaced by spaces, runs of whitespace collapsed;
2. take every run of 5 consecutive characters (a text shorter than that is
   its own single shingle);
3. similarity = |A ∩ B| / |A ∪ B| of the two shingle sets, from 0.0 (nothing
   in common) to 1.0 (the same text up to case, punctuation and spacing).

Character shingles see through reworded punctuation, changed capitals and
small edits (a word swapped, a number changed) while two different records on
the same topic share few 5-grams. :data:`NEAR_DUPLICATE_THRESHOLD` was chosen
by measuring both kinds of pairs (see its comment).

:func:`find_near_duplicates` compares every pair exactly, on bitsets: the
kit's 500 records (124,750 pairs) take under a second of CPU time, about five
times faster than intersecting Python sets pair by pair.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

SHINGLE_SIZE = 5

# Chosen from measurements (``python bench/bench_validate.py --similarity``):
# - the kit's five datasets, 500 records, all 124,750 pairs of different records:
#   median 0.036, 99.9th percentile 0.095, maximum 0.214 (two explanations of why
#   a triangle's angles add up to 180 degrees, in two different files);
# - edited copies of 60 of those records (lowest / median score): case and
#   punctuation changed 0.78 / 1.00, a sentence dropped 0.60 / 0.90, sentences
#   shuffled 0.80 / 0.94, a sentence added 0.87 / 0.94, 10% of the words replaced
#   0.66 / 0.77, 20% replaced 0.42 / 0.61, a sentence dropped and 10% replaced
#   0.43 / 0.69, 30% replaced 0.30 / 0.48; two records reworded by hand: 0.73, 0.87;
# - a full paraphrase (same content, new wording) scores about 0.23, like a
#   different record: character shingles catch copies, not rewritten ideas.
# 0.4 catches every copy with up to a fifth of its words changed and stays almost
# twice the highest score of two different records.
NEAR_DUPLICATE_THRESHOLD = 0.4

_APOSTROPHES = re.compile(r"['\u2019]")  # "it's" and "its" should meet
_PUNCTUATION = re.compile(r"[^\w\s]|_")
_SPACES = re.compile(r"\s+")


def record_text(record: Any) -> str:
    """All the text of a record, joined with newlines, for comparing records.

    For dialogue and chat records that is every turn's or message's
    ``content`` except system messages (a file shares one system prompt by
    design, so it would make every pair look alike); for question-answer
    records the instruction, the input and the output. Other records
    contribute all their string values.
    """
    if not isinstance(record, dict):
        return "\n".join(_strings(record))
    for key in ("dialogue", "messages"):
        if isinstance(record.get(key), list):
            return "\n".join(
                turn["content"] for turn in record[key]
                if isinstance(turn, dict) and isinstance(turn.get("content"), str)
                and turn.get("role") != "system"
            )
    if "instruction" in record or "output" in record:
        return "\n".join(str(record[key]) for key in ("instruction", "input", "output")
                         if isinstance(record.get(key), str) and record[key])
    return "\n".join(_strings(record))


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def normalize(text: str) -> str:
    """NFKC, lowercase, apostrophes dropped, other punctuation to spaces, whitespace collapsed."""
    text = _APOSTROPHES.sub("", unicodedata.normalize("NFKC", text).lower())
    return _SPACES.sub(" ", _PUNCTUATION.sub(" ", text)).strip()


def shingles(text: str, size: int = SHINGLE_SIZE) -> frozenset[str]:
    """The set of ``size``-character substrings of the normalized text."""
    text = normalize(text)
    return frozenset(text[start:start + size] for start in range(max(1, len(text) - size + 1)))


def jaccard(a: frozenset[str] | set[str], b: frozenset[str] | set[str]) -> float:
    """|A ∩ B| / |A ∪ B|; two empty sets count as identical."""
    if not a and not b:
        return 1.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the two texts' character 5-gram shingles (0.0 to 1.0)."""
    return jaccard(shingles(a), shingles(b))


def find_near_duplicates(texts: Sequence[str],
                         others: Sequence[str] | Sequence[frozenset[str]] | None = None,
                         threshold: float = NEAR_DUPLICATE_THRESHOLD,
                         ) -> list[tuple[int, int, float]]:
    """Pairs ``(i, j, similarity)`` with similarity >= threshold, sorted by i then j.

    With ``others=None`` the pairs are within ``texts`` (``i < j``); otherwise
    ``i`` indexes ``texts`` and ``j`` indexes ``others``, which may also be given
    as their :func:`shingles` (a corpus compared again and again is shingled
    once). Every pair is compared exactly, but cheaply: each shingle set becomes
    a bitset (one bit per shingle that two records share, held in a Python int),
    so an intersection is one ``&`` and a ``bit_count()``; pairs whose sizes
    alone rule out the threshold are skipped.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    left = [shingles(text) for text in texts]
    right = left if others is None else [
        text if isinstance(text, frozenset) else shingles(text) for text in others]
    # Only shingles that two different records could share need a bit.
    if others is None:
        counts = Counter(item for shingle_set in left for item in shingle_set)
        shared = [item for item, count in counts.items() if count > 1]
    else:
        shared = set().union(*left) & set().union(*right)
    ids = {item: index for index, item in enumerate(shared)}
    left_bits = [_bitset(shingle_set, ids) for shingle_set in left]
    right_bits = left_bits if others is None else [_bitset(s, ids) for s in right]

    pairs = []
    for i, (bits, size) in enumerate(zip(left_bits, map(len, left), strict=True)):
        start = i + 1 if others is None else 0
        for j in range(start, len(right)):
            other_size = len(right[j])
            # The similarity cannot exceed the ratio of the two set sizes.
            if min(size, other_size) < threshold * max(size, other_size):
                continue
            common = (bits & right_bits[j]).bit_count()
            score = common / (size + other_size - common)
            if score >= threshold:
                pairs.append((i, j, score))
    return pairs


def _bitset(shingle_set: frozenset[str], ids: dict[str, int]) -> int:
    mask = bytearray(len(ids) // 8 + 1)
    for item in shingle_set:
        index = ids.get(item)
        if index is not None:
            mask[index >> 3] |= 1 << (index & 7)
    return int.from_bytes(mask, "little")


# ---------------------------------------------------------------- the same question
# A record can be new text on an old question: a kit dialogue retold in other words
# shares few 5-grams with the original. So the question a record asks is compared
# too, by its content words: the opening teacher turn of a dialogue, the student's
# (user's) first message of a chat example, the instruction (and input) of a QA pair;
# lower-cased, common English words and instruction boilerplate ("explain", "student",
# "high school") dropped, a plural or -ed/-ing ending cut. Two questions are the same
# when their content-word sets share at least SAME_QUESTION_MIN_SHARED words and have
# a Jaccard similarity of SAME_QUESTION_THRESHOLD or more. Measured on the kit's data
# (500 records, 124,750 pairs): one pair reaches 0.5 ("What's the difference between
# dramatic irony and just irony?" / "Explain dramatic irony to a ninth grader ..."),
# the next ones 0.4 (two questions on latitude and longitude); 30 kit questions reworded
# by hand (tests/test_honest_and_gaming.py) score 0.5 or more 23 times; the misses are
# questions made of symbols ("Why isn't (a + b)² the same as a² + b²?") and sentences
# rebuilt around other nouns ("An acorn becomes an enormous oak ..."). Word sets this
# small are coarse: the measure catches a question asked again, not a topic revisited.
SAME_QUESTION_THRESHOLD = 0.5
SAME_QUESTION_MIN_SHARED = 2
_COMMON_WORDS = frozenset("""
a an the and or but if then so of to in on at by for with from as is are was were be been
being do does did have has had it its this that these those there here what which who whom
whose why how when where you your we our they their i me my he she his her him them us not
no yes can could would should will shall may might must just about into than too very also
more most some any all each other such only own same one two think like let don doesn isn
aren okay well right really yeah now imagine suppose say tell give show explain describe
student students teacher school high grade grader year old kid kids simple terms example
examples work out help please answer question quick reckon picture wonder guess expect
predict wouldnt isnt doesnt dont cant thinks even actually simply first second third
fourth fifth sixth seventh eighth ninth tenth class lesson level short sentence sentences few
using everyday familiar difference between
""".split())


_ENDINGS = (("ies", "y"), ("ised", "ize"), ("ising", "ize"), ("ise", "ize"), ("ation", "at"),
            ("ing", ""), ("ed", ""), ("es", ""), ("s", ""))


def _stem(word: str) -> str:
    """A crude English stem: "countries" and "country", "summarise" and "summarize" meet."""
    if word.endswith("ss") or len(word) <= 4:
        return word
    for ending, replacement in _ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return word[:-len(ending)] + replacement
    return word


_COMMON_STEMS = frozenset(_stem(word) for word in _COMMON_WORDS)


def content_words(text: str) -> frozenset[str]:
    """The content words of a text: lower-cased, common words dropped, endings cut."""
    stems = (_stem(word) for word in re.findall(r"[a-z]+", normalize(text))
             if len(word) >= 3 and word not in _COMMON_WORDS)
    return frozenset(stem for stem in stems if stem not in _COMMON_STEMS)


def record_question(record: Any) -> str:
    """The question a record asks (see the comment above SAME_QUESTION_THRESHOLD)."""
    if not isinstance(record, dict):
        return ""
    if isinstance(record.get("dialogue"), list):
        for turn in record["dialogue"]:
            if isinstance(turn, dict) and turn.get("role") == "teacher":
                return str(turn.get("content", ""))
        return ""
    if isinstance(record.get("messages"), list):
        for message in record["messages"]:
            if isinstance(message, dict) and message.get("role") == "user":
                return str(message.get("content", ""))
        return ""
    return "\n".join(str(record[key]) for key in ("instruction", "input")
                     if isinstance(record.get(key), str))


def same_question(a: frozenset[str], b: frozenset[str]) -> float:
    """The Jaccard similarity of two content-word sets, or 0.0 when they share too few."""
    common = len(a & b)
    if common < SAME_QUESTION_MIN_SHARED:
        return 0.0
    return common / (len(a) + len(b) - common)
