"""Word matching shared by the answer checks and the lenient answer match: pure functions, hand-made cases."""

from __future__ import annotations

import pytest

from rag.metrics import lenient_match
from rag.terms import Vocabulary, content_terms, covered, fold, names, same_term, words
from rag.verify import negation_unmet, support, unsupported_numbers


def test_fold_drops_accents_and_case() -> None:
    assert fold("Céloron Ålesund") == "celoron alesund"


@pytest.mark.parametrize(
    ("a", "b"),
    [("elected", "election"), ("losses", "loss"), ("European", "Europe"), ("served", "serving"), ("Normans", "Norman")],
)
def test_morphology_makes_one_term(a: str, b: str) -> None:
    (x,), (y,) = content_terms(a), content_terms(b)
    assert same_term(x, y)


@pytest.mark.parametrize(("a", "b"), [("par", "paris"), ("rugby", "russia"), ("1756", "17560")])
def test_different_words_stay_apart(a: str, b: str) -> None:
    (x,), (y,) = content_terms(a), content_terms(b)
    assert not same_term(x, y)


def test_covered_uses_same_term() -> None:
    assert covered(content_terms("the election result"), content_terms("he was elected")) == {"elect"}


def test_support_accepts_a_faithful_paraphrase() -> None:
    passage = "Voters took part in the election of the council, and the losses of the party were heavy."
    assert support("The party's losses were heavy in the elections.", "What happened to the party?", [passage]) == 1.0


def test_support_still_rejects_new_facts() -> None:
    passage = "The museum opened in 1998 after a decade of planning."
    assert support("The museum was founded by Clara Voss.", "Who founded the museum?", [passage]) < 0.6


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Which country's team won the rugby final?", []),
        ("Who won the 2022 World Cup?", ["2022", "world", "cup"]),
        ("Where did Maher al-Assad flee to?", ["maher", "assad"]),
        ("How did Céloron handle the meeting with Old Briton?", ["celoron", "old", "briton"]),
        ("What did the UN say?", ["un"]),
    ],
)
def test_names_are_capitalised_words_past_the_first_and_numbers(question: str, expected: list[str]) -> None:
    assert names(question) == expected


@pytest.mark.parametrize(
    ("reply", "golds", "question", "strict", "lenient"),
    [
        ("It joined the European Union.", ["Europe"], "Where did it join?", False, True),
        ("The Avalanche won.", ["Colorado Avalanche"], "Who won the cup?", False, True),
        ("He gained the throne of England.", ["King of England"], "What throne did he gain?", False, True),
        ("The Normans teamed up with the Turks.", ["Turkish forces"], "Who did the Normans team up with?", False, True),
        ("It lasted from 1756 to 1763.", ["six years"], "How long did it last?", False, False),
        ("The Normans were Christian.", ["Catholic"], "What religion were the Normans?", False, False),
        ("It was ceded to Spain.", ["Spain"], "What was ceded to Spain?", True, True),
        ("The land went to France.", ["Spain"], "What land was ceded to Spain?", False, False),
        ("In 1082.", ["1082"], "When did it fall?", True, True),
        ("In 1083.", ["1082"], "When did it fall?", False, False),
    ],
)
def test_lenient_match(reply: str, golds: list[str], question: str, strict: bool, lenient: bool) -> None:
    from rag.metrics import contains_answer

    assert contains_answer(reply, golds) is strict
    assert lenient_match(reply, golds, question) is lenient


def test_vocabulary_forgives_stems_prefixes_and_one_slip() -> None:
    vocabulary = Vocabulary(words("Céloron threatened the traders. Staphylococcus spreads. The government fled."))
    for word in ("celeron", "staph", "goverment", "threatens", "flee"):  # "flee": the base form of "fled"
        assert vocabulary.mentions(word), word
    for word in ("rugby", "iran", "1082", "fly"):
        assert not vocabulary.mentions(word), word


def test_unknown_separates_names_from_other_words() -> None:
    vocabulary = Vocabulary(words("Maher al-Assad fled to Iraq with senior officers in 2024."))
    assert vocabulary.unknown("Where did Maher al-Assad flee to?") == ([], [], 4)
    assert vocabulary.unknown("Where did Maher al-Assad fly to?") == ([], ["fly"], 4)
    assert vocabulary.unknown("Who won the 2022 World Cup?") == (["2022", "world", "cup"], ["won"], 4)
    assert vocabulary.unknown("who is the drummer for guns and roses") == ([], ["drummer", "guns", "roses"], 3)


def test_irregular_forms_are_one_term_with_their_base_form() -> None:
    assert content_terms("He gave the order and fled; the children took it") == content_terms(
        "give order flee child take"
    )
    assert content_terms("found") != content_terms("find")  # "found" is read two ways: left as it is
    # "The model gave an R0 of 3.58" answers "What R0 did the model give?": "gave" says nothing new
    evidence = ["The simulation showed that the R 0 of SARS-CoV-2 was 3.58 from person to person."]
    question = "What R0 did the Reservoir-People model give for person-to-person spread of SARS-CoV-2?"
    assert support("The Reservoir-People model gave an R0 of 3.58 from person to person.", question, evidence) == 1.0


def test_a_request_and_the_documents_own_name_are_not_the_subject() -> None:
    vocabulary = Vocabulary(words("The rebels seized the city of Homs."))
    assert vocabulary.unknown("list the cities the rebels took") == ([], ["took"], 3)  # not 'list'
    assert vocabulary.unknown("Summarize the article.") == ([], [], 0)
    assert vocabulary.unknown("Which towns did the insurgents grab?") == ([], ["towns", "insurgents", "grab"], 3)


def test_named_in_finds_the_documents_names_however_typed() -> None:
    vocabulary = Vocabulary(words("Maher al-Assad fled to Iraq."), names("Maher al-Assad fled to Iraq."))
    assert vocabulary.named_in("assad's brother went where") == ["assad"]
    assert vocabulary.named_in("Where did the brother flee?") == []  # "brother" is no name of theirs


def test_dotted_abbreviations_are_one_word() -> None:
    assert words("eight U.S. presidents, e.g. Obama") == ["eight", "us", "presidents", "eg", "obama"]
    assert Vocabulary(words("Harvard's alumni include eight U.S. presidents.")).unknown(
        "How many US presidents are alumni of the school?"
    ) == ([], ["school"], 4)


@pytest.mark.parametrize(
    ("question", "evidence", "unmet"),
    [
        ("Where didn't British settlers live?", ["British settlers lived along the coast."], True),
        ("Who wasn\u2019t on the expedition?", ["The expedition was led by Céloron."], True),
        ("What was a non-religious reason for the massacre?", ["A non-religious reason was the debt."], False),
        ("Which country did not sign the treaty?", ["Spain did not sign the treaty."], False),
        ("Where did the settlers live?", ["British settlers lived along the coast."], False),
        # the negation is in the background, not in what is asked
        ("I couldn't find it in the text. Where did the settlers live?", ["Settlers lived on the coast."], False),
        # why something is not so is answered by its cause, said without a negation
        ("Why didn't the talks work out?", ["The talks were unsuccessful, as the army collapsed."], False),
    ],
)
def test_a_question_about_what_is_not_so_needs_a_passage_that_says_so(
    question: str, evidence: list[str], unmet: bool
) -> None:
    assert negation_unmet(question, evidence) is unmet


# Right answers the checks threw away on the covidqa-long dev split: a number the question gives
# ("COVID-19") taken for the answer's claim, a range ("0.8-1.3") read as single digits and dropped,
# "1,000" not matching "1000".
@pytest.mark.parametrize(
    ("answer", "question", "evidence"),
    [
        (
            "It took China 10 days to build the temporary hospital in Wuhan for COVID-19 patients.",
            "How long did it take China to build the temporary hospital in Wuhan for COVID-19 patients?",
            "Chinese health authorities are building a 1000 bed hospital in Wuhan in 10 days.",
        ),
        (
            "The reported value of R0 for MERS was about 0.8-1.3.",
            "What is the reported value of R0 for MERS?",
            "The reported value of the R 0 of MERS was about 0.8-1.3 [31] , with the inter-human transmissibility",
        ),
        ("The hospital has 1,000 beds.", "How big is the hospital?", "a 1000 bed hospital built in ten days"),
        ("It was built in 10 days.", "How long did the building take?", "a 1000 bed hospital built in ten days"),
    ],
)
def test_numbers_are_compared_by_value(answer: str, question: str, evidence: str) -> None:
    assert support(answer, question, [evidence]) == 1.0
    assert not unsupported_numbers(answer, [evidence], question)


def test_a_number_the_passages_do_not_state_is_still_unsupported() -> None:
    evidence = ["The hospital was built in 1000 days at a cost of 2.5 billion."]
    assert unsupported_numbers("It was built in 100 days.", evidence, "How long did it take?") == {"100"}
    assert unsupported_numbers("It cost 2.6 billion.", evidence, "What did it cost?") == {"2.6"}
    assert support("It took 100 days.", "How long did it take?", evidence) < 0.6


def test_classifying_words_state_no_fact_of_their_own() -> None:
    passage = "Staphylococcus aureus is a Gram-positive bacteria found on the skin."
    assert support("Staph aureus is a type of bacteria.", "What is Staph aureus?", [passage]) == 1.0
    assert support("Staph aureus is a kind of virus.", "What is Staph aureus?", [passage]) == 0.0


def test_only_a_sentences_first_word_is_not_a_name() -> None:
    assert names("We met in Melbourne. Besides Russia, which ally helped?") == ["melbourne", "russia"]
    assert names("J. A. Hobson didn't want which races to develop the world?") == ["hobson"]  # initials
    assert names('"Besides Iran, who helped?"') == ["iran"]


def test_a_short_name_missing_a_letter_is_still_mentioned_but_not_a_short_word() -> None:
    vocabulary = Vocabulary(words("Maher al-Assad fled the Yuan court at last, with a hint of panic."))
    assert vocabulary.unknown("Where did Maer al-Asad flee?")[0] == []  # "Maer", "Asad": typed one letter short
    assert vocabulary.unknown("What came after the Yun?")[0] == []
    assert vocabulary.unknown("Who is Bob?")[0] == ["bob"]  # two letters short of nothing
    assert "las" in vocabulary.unknown("when did las vegas become a gambling town")[1]  # not a name
