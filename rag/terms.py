"""Words as the answer checks compare them: accents folded, stop words dropped, English stems.

Shared by the support check (is the answer in its passages?), the question checks (does the corpus
mention what is asked?) and the lenient answer match of the evaluation, so all three agree on what
counts as "the same word": "elected" and "election", "Céloron" and "Celeron", "losses" and "loss",
"gave" and "give".
"""

from __future__ import annotations

import bisect
import re
import string
import threading
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS
from lemminflect import getAllLemmas

from rag.chunking import sentence_spans

_TOKEN = re.compile(r"[a-z]+|[0-9]+")  # "COVID19" and "COVID-19" both give "covid", "19"
_CASED = re.compile(r"[^\W_]+", re.UNICODE)
# NLTK's English function words, as bm25s ships them; "won" (from "won't") is a content word here.
# (scikit-learn's longer list was used before: it holds number words and nouns such as "eight",
# "first", "fire", "system", so "Eight presidents" looked like an answer that says nothing.)
STOP_WORDS = frozenset(STOPWORDS_EN_PLUS) - {"won"}
_local = threading.local()  # a PyStemmer object must not be shared between threads

# The words a question opens with ("with whom", "in which year": after a preposition).
WH_WORDS = ("what", "which", "who", "whom", "whose", "when", "where", "why", "how")
# Words that ask or frame rather than name a subject: never a question's key term. People also ask in
# the imperative and name the documents themselves ("List the cities the rebels took", "Give me examples
# of ...", "Summarize the article"): the request, not what it is about.
_REQUESTS = "list give show tell describe explain summarize summarise summary overview example examples name names"
REQUEST_WORDS = frozenset((_REQUESTS + " article document documents text").split())
QUESTION_WORDS = frozenset(WH_WORDS) | {"many", "much", "did", "does", "do", "was", "were"} | REQUEST_WORDS


def fold(text: str) -> str:
    """Lower case without accents: "Céloron" and "Celeron" are one word."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


_DOTTED = re.compile(r"(?<![^\W\d_])(?:[^\W\d_]\.){2,}")  # "U.S.", "e.g."


def words(text: str) -> list[str]:
    """Lower-case words and numbers; a dotted abbreviation is one word ("U.S." is "us", as "US" is)."""
    return _TOKEN.findall(fold(_DOTTED.sub(lambda m: m.group().replace(".", ""), text)))


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Snowball (Porter 2) English stem: "served", "serves", "serving" -> "serv"; an irregular form
    is stemmed as its base form, which no stemmer finds: "gave" -> "give", "fled" -> "flee"."""
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = Stemmer.Stemmer("english")
    return stemmer.stemWord(_base_form(word) or word)


def _base_form(word: str) -> str | None:
    """The one base form the lemminflect dictionary gives a verb or noun form ("took" -> "take",
    "children" -> "child"); None for a word it does not know or reads two ways ("found": find or
    found, "felt": feel or felt), which keep their own stem."""
    lemmas = getAllLemmas(word)
    bases = {base.lower() for pos in ("VERB", "NOUN") for base in lemmas.get(pos, ())}
    return bases.pop() if len(bases) == 1 else None


def content_terms(text: str) -> set[str]:
    """Stems of the words that carry content (no stop words, no single letters)."""
    return {stem(w) for w in words(text) if len(w) > 1 and w not in STOP_WORDS}


def same_term(a: str, b: str) -> bool:
    """Two stems name the same thing: equal, or one extends the other ("europ"/"european",
    "elect"/"elector"); the shorter must keep 4 letters so "par" never matches "paris"."""
    if a == b:
        return True
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    # numbers (and "#n" number values) only ever match exactly: 1000 is not 10000
    return len(short) >= 4 and long.startswith(short) and not short.isdigit() and not short.startswith("#")


def covered(terms: set[str], pool: set[str]) -> set[str]:
    """The terms that ``pool`` holds, as the same term (see ``same_term``)."""
    found = terms & pool
    for term in terms - found:
        if len(term) >= 4 and any(same_term(term, p) for p in pool):
            found.add(term)
    return found


def names(question: str, first_word: bool = False) -> list[str]:
    """The names and numbers a question mentions: capitalised words other than a sentence's first,
    words in capitals, and anything with a digit, folded ("Who did Maher al-Assad meet in 2024?" ->
    ["maher", "assad", "2024"]). These say what the question is about; a corpus that never
    mentions one of them cannot answer it. ``first_word`` counts a capitalised first word too (for a
    statement, where it is often a name: "Iraq, according to ...")."""
    found: list[str] = []
    # Each sentence's first word (a sentence does not end at "Mr." or an initial: "J. A. Hobson")
    openings = {m.start() for a, b in sentence_spans(question) if (m := _CASED.search(question, a, b))}
    for match in _CASED.finditer(question):
        word = match.group()
        is_number = any(ch.isdigit() for ch in word)
        opens = match.start() in openings
        if not is_number and not ((not opens or first_word) and word[0].isupper() and len(word) > 1):
            continue
        token = fold(word)
        acronym = word.isupper() and len(word) > 1  # "UN", "US": names, though "un" and "us" are stop words
        for part in _TOKEN.findall(token):
            if (is_content(part) or (acronym and len(part) > 1)) and part not in found:
                found.append(part)
    return found


class Vocabulary:
    """Every word a corpus uses, to ask "do the documents ever mention this?" of a question's words.

    A word counts as mentioned when the corpus has it, its stem, a longer word it begins ("staph" in
    "staphylococcus"), or, for words of five letters or more, a word one typing slip away ("Celeron"
    for "Céloron", "goverment"): questions carry typos, documents carry the full forms. A shorter name
    is forgiven a dropped letter ("Asad" for "Assad").
    """

    def __init__(self, tokens: Iterable[str], names: Iterable[str] = ()) -> None:
        self.words = set(tokens)
        self.names = set(names)  # the words it writes as names (``names`` of its text)
        self.stems = {stem(w) for w in self.words}
        self._sorted = sorted(self.words)

    def __len__(self) -> int:
        return len(self.words)

    def mentions(self, word: str) -> bool:
        if self._has(word):
            return True
        return len(word) >= 5 and not word.isdigit() and any(w in self.words for w in _one_slip(word))

    def spelling(self, name: str) -> str | None:
        """The corpus's spelling of a name of four letters or more typed with one slip ("maer" ->
        "maher", "celeron" -> "celoron"): the one name of the corpus that fits, as ``unknown`` forgives
        it. None when the corpus has the word as typed, or when no name or several fit. Only names
        are offered: "World" is one slip from "would", and a word a question names is a name."""
        if len(name) < 4 or name.isdigit() or self._has(name):
            return None
        near = _one_slip(name) if len(name) >= 5 else _insertions(name)
        fits = near & self.names
        return fits.pop() if len(fits) == 1 else None

    def named_in(self, question: str) -> list[str]:
        """The question's words that the documents write as names, however the question types them
        ("assad's brother went where" -> ["assad"])."""
        return [w for w in dict.fromkeys(words(question)) if is_content(w) and w in self.names]

    def _has(self, word: str) -> bool:
        """The word, its stem, or (from four letters) a longer word it begins."""
        if word in self.words or stem(word) in self.stems:
            return True
        if len(word) >= 4 and not word.isdigit():
            i = bisect.bisect_left(self._sorted, word)
            return i < len(self._sorted) and self._sorted[i].startswith(word)
        return False

    def unknown(self, question: str) -> tuple[list[str], list[str], int]:
        """(names the corpus never mentions, other content words it never mentions, content words)."""
        named = names(question)
        asked = [w for w in dict.fromkeys(words(question)) if is_content(w) or w in named]
        missing = [w for w in asked if not self.mentions(w)]
        # A short name with a letter dropped ("Asad", "Yun") is the documents' "Assad", "Yuan": names are
        # where people slip, and a name is rarely one letter short of another word (a plain short word
        # is: "las" of "last", "hit" of "hint", so they are not forgiven).
        missing_names = [w for w in missing if w in named and not self._one_letter_short(w)]
        return missing_names, [w for w in missing if w not in named], len(asked)

    def _one_letter_short(self, word: str) -> bool:
        return not word.isdigit() and any(w in self.words for w in _insertions(word))


def is_content(word: str) -> bool:
    return len(word) > 1 and word not in STOP_WORDS and word not in QUESTION_WORDS


def _one_slip(word: str) -> set[str]:
    """Every string one deletion, swap, replacement or insertion away (Norvig's spelling corrector)."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    letters = string.ascii_lowercase
    return (
        {a + b[1:] for a, b in splits if b}
        | {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
        | {a + c + b[1:] for a, b in splits if b for c in letters}
        | _insertions(word)
    )


def _insertions(word: str) -> set[str]:
    """Every string one inserted letter away: the word as it was before a letter was dropped."""
    return {word[:i] + c + word[i:] for i in range(len(word) + 1) for c in string.ascii_lowercase}
