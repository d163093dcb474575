"""Issue 13 (part): the factual-accuracy metric on hand-written answers, and every mentioned title answered."""

from types import SimpleNamespace

from recbole_ilm.chat.catalogue import Catalogue
from recbole_ilm.chat.facts import FactChecker, summarise
from recbole_ilm.chat.session import ChatSession


def F(title, year, tags):  # noqa: N802
    return SimpleNamespace(title=title, detail=year, tags=tags)


FACTS = [None, F("Fargo", "1996", ["Crime", "Drama", "Thriller"]), F("Toy Story", "1995", ["Animation", "Children's",
         "Comedy"]), F("Star Wars", "1977", ["Action", "Adventure", "Sci-Fi"]),
         F("Shawshank Redemption, The", "1994", ["Drama"]), F("Return of the Jedi", "1983", ["Action", "Sci-Fi"])]


def test_a_right_answer():
    c = FactChecker(FACTS).check("Fargo (1996) is a crime drama and thriller set in snowy Minnesota.", [1])
    assert c == {"title": 1.0, "tag_precision": 1.0, "tag_recall": 1.0, "year": 1.0}


def test_a_partly_right_answer():
    c = FactChecker(FACTS).check("Star Wars is a 1977 sci-fi comedy.", [3])
    assert c["title"] == 1.0 and c["year"] == 1.0
    assert c["tag_precision"] == 0.5 and abs(c["tag_recall"] - 1 / 3) < 1e-9  # sci-fi right, comedy wrong


def test_a_wrong_answer():
    c = FactChecker(FACTS).check("The movie is an animated comedy from 2010 by Christopher Nolan, like Toy Story.",
                                 [1])
    assert c["title"] == 0.0  # Fargo not named, and another catalogue title is
    assert c["tag_precision"] == 0.0 and c["tag_recall"] == 0.0 and c["year"] == 0.0


def test_other_titles_and_articles():
    checker = FactChecker(FACTS)
    assert checker.check("Shawshank Redemption is a drama.", [4])["title"] == 1.0  # article left out
    assert checker.check("Fargo and Return of the Jedi.", [1])["title"] == 0.0  # a title outside the prompt
    assert checker.check("Fargo and Return of the Jedi.", [1], allowed=[5])["title"] == 1.0  # shown in the prompt
    assert checker.check("Fargo.", [1])["tag_precision"] is None and checker.check("Fargo.", [1])["year"] is None
    s = summarise([checker.check("Fargo, a 1996 drama.", [1]), checker.check("Toy Story, 1996.", [2])])
    assert s["title"] == 1.0 and s["year"] == 0.5 and s["year_n"] == 2 and s["tag_precision_n"] == 1


def test_every_mentioned_title_is_answered_and_numbers_count():
    titles = ["", "Alien", "Aliens", "Alien 3", "Alien: Resurrection", "Terminator, The",
              "Terminator 2: Judgment Day", "Blade Runner", "Sense and Sensibility"]
    years = ["", "1979", "1986", "1992", "1997", "1984", "1991", "1982", "1995"]
    s = ChatSession(Catalogue(titles, years), lambda h, e, k: [], lambda p, i: "", noun="movie")
    reply = s.reply("I loved Alien, Terminator 2 and Blade Runner")
    assert s.liked == [1, 6, 7], reply  # Alien (1979), the sequel (not the 1984 film), Blade Runner
    assert "Terminator 2: Judgment Day (1991)" in reply and "Alien (1979)" in reply
    reply = s.reply("I liked Terminator and Blade Runer and Titanic")
    assert "could be several" in reply and "Terminator, The (1984)" in reply  # ambiguous: listed
    assert "Titanic" in reply and "don't know" in reply  # unknown: said so
    assert s.liked[-1] == 7  # the typo still matched
    assert s.reply("Sense and Sensibility") .startswith("Noted: you like Sense and Sensibility")
    c = Catalogue(titles, years)
    assert c.find("Alien 4") == []  # a number that no title has is not matched fuzzily to another one


def test_grounded_prompts_carry_the_items_own_metadata_and_no_other_items():
    import numpy as np

    from recbole_ilm.chat.tasks import GROUNDED_TASKS, TASKS, TaskWriter, make_examples

    facts = [None] + [F(f"Film Number {i}", str(1980 + i), [["Crime", "Drama", "Comedy", "Horror"][i % 4]])
                      for i in range(1, 13)]
    items = np.arange(1, 13)
    grounded = make_examples(TaskWriter(facts, "movie", "genres", grounding="metadata"), items,
                             np.random.default_rng(0))
    plain = make_examples(TaskWriter(facts, "movie", "genres"), items, np.random.default_rng(0))
    assert [e.items for e in grounded] == [e.items for e in plain]
    for g, p in zip(grounded, plain):
        assert not any(f.title in p.prompt for f in facts[1:])  # tokens_only: no title in any prompt
        if g.task not in GROUNDED_TASKS:
            assert g.prompt == p.prompt  # "title" / "tags" would read the answer off the prompt
            continue
        for k, item in enumerate(g.items):
            assert f"{{{k}}} (Film Number {item} ({1980 + item}); genres: {facts[item].tags[0]})" in g.prompt
        others = [f" {i} (" for i in range(1, 13) if i not in g.items]
        assert not any(f"Film Number{o}" in g.prompt for o in others)
    assert {e.task for e in grounded} == set(TASKS)
