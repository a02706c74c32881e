"""The shape of a question as people type it: what they ask, apart from how they ask it.

Eval sets hold one plain sentence per question; people write "I'm writing a report for my class at
Stanford. Where did Maher al-Assad flee to?" or "Can you tell me where he fled?". Read literally,
the background's names look like the subject (declined as "not in the documents"), the polite
wrapper makes the model lean to declining or answer "Yes, ...", and a name typed with a slip is
repeated in the answer. These functions give the checks and the model the question itself.
"""

from __future__ import annotations

import re

from rag.chunking import sentence_spans
from rag.terms import WH_WORDS, Vocabulary, fold, is_content, names, words

# Pronouns for people named before ("Messi moved. Where did he go?"); "it" and "this" mostly point
# inside their own sentence ("the theory as it used to stand", "among those imprisoned").
_PEOPLE = frozenset(words("he she they him her them his hers their theirs"))
# Where typed text starts a new sentence without a capital ("Hi there. who sang ..."), and where a
# background ends before the question in one sentence ("For my CS class: what's ...", "I'm following the
# story - what was ...").
_LOOSE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[a-z])|(?<=:)\s+|\s+[-\u2013\u2014]\s+")
# Opening words of a question typed without "?" ("who sang feel it still", "is the header long").
_OPENINGS = frozenset(WH_WORDS + tuple(words("is are was were do does did can could has have")))
# Before a question word: "with whom", "in which year", "for how long".
_PREPOSITIONS = ("with", "to", "from", "for", "by", "in", "on", "at", "of", "about", "during", "after", "since")


def asked_part(question: str) -> str:
    """The sentences of a question that ask (``_asks``), without the background a person may give around
    them ("I'm writing a report for my class at Stanford. Where did Maher al-Assad flee to?"). What
    the background names is context, not what is asked: the subject check and the judge read only
    this. Returned whole when no sentence asks ("Tell me about Sednaya. List the prisoners."), or when
    the asking ones hold under two content words ("When was it built?") or a pronoun for a person and
    no name ("Where did he go?"): then they are about what the background names, which counts."""
    # Typed text starts sentences in lower case too ("Hi there. who sang feel it still") and ends a
    # background with a colon or a dash; a split after an abbreviation ("the U.S. army") or inside a
    # question ("What is the ratio - roughly?") only cuts it in two, and the asking part still asks.
    sentences = [piece for a, b in sentence_spans(question) for piece in _LOOSE_BREAK.split(question[a:b])]
    if len(sentences) < 2:
        return question
    asked = " ".join(s for s in sentences if _asks(s))
    said = words(asked)
    own = {w for w in said if is_content(w)}
    # A pronoun points back into the background, unless the asking part names someone itself ("Homework
    # for Mrs. Patel - when was Assad to give his speech?").
    pointing = _PEOPLE.intersection(said) and not any(n.isalpha() for n in names(asked))
    return asked if len(own) >= 2 and not pointing else question


def _asks(sentence: str) -> bool:
    """Ends in "?", or opens as a question does (typed queries often have no "?"), a preposition before
    the question word included ("in which prison was he held")."""
    said = words(sentence)[:2]
    if said[:1] and said[0] in _PREPOSITIONS:
        said = said[1:]
    return sentence.rstrip("\"')\u201d\u2019 ").endswith("?") or (bool(said) and said[0] in _OPENINGS)


# A request to answer what follows, before a question word: "Can you tell me", "Do you happen to know",
# "I was wondering", "Any idea", "Would you mind telling me". Told by its words rather than listed whole:
# only words that address the reader or ask to be told, at least one of them a verb of telling or
# knowing, so a clause with a subject of its own ("Does the report say when ...") stays.
_TELLING = frozenset(
    words("know knows tell telling say explain show wonder wondering wondered curious idea remember recall")
    + words("let find figure understand")
)
_REQUEST_WORDS = _TELLING | frozenset(
    words(
        "please kindly do does did can could would will you anyone anybody someone somebody i me we us happen happens "
        "to by any chance maybe perhaps just like love want need was am m d be been have has mind out help"
    )
)
_REQUEST = re.compile(
    r"(^|[.!?]\s+)((?:[a-z]+(?:['\u2019][a-z]+)?[\s,:]+){1,8}?)"
    rf"((?:(?:{'|'.join(_PREPOSITIONS)})\s+)?(?:{'|'.join(WH_WORDS)}))\b",
    re.IGNORECASE,
)


def direct(question: str) -> str:
    """The question without a polite wrapper: "Can you tell me where did he flee?" -> "Where did he
    flee?". The model otherwise leans to declining a request it reads as about its own abilities, or
    answers "Yes, ..." to "Do you know ...". A question with no wrapper comes back unchanged, and so
    does a request that is not for a question ("Can you tell me about Sednaya?", "Do you know if ...")."""

    def take_off(match: re.Match[str]) -> str:
        said = words(match.group(2))
        if not (set(said) <= _REQUEST_WORDS and _TELLING.intersection(said)):
            return match.group()
        return match.group(1) + match.group(3).capitalize()

    return _REQUEST.sub(take_off, question)


_WORD = re.compile(r"[^\W\d_]+")


def respell(question: str, vocabulary: Vocabulary) -> str:
    """The question with each name typed one slip off the documents' spelling written as they spell it:
    "Where did Maer al-Asad flee?" -> "Where did Maher al-Assad flee?". The subject check already takes
    such a name for the documents' one (``Vocabulary.unknown``); written so, the passages are found by
    it and the answer names what the documents name, rather than repeating the slip. Names in capitals
    ("USA") are left as typed: an acronym one letter off another is another acronym."""
    fixes = {name: right for name in names(question) if (right := vocabulary.spelling(name))}
    if not fixes:
        return question

    def fix(match: re.Match[str]) -> str:
        word = match.group()
        right = fixes.get(fold(word))
        if right is None or (word.isupper() and len(word) > 1):
            return word
        return right.capitalize() if word[0].isupper() else right

    return _WORD.sub(fix, question)
