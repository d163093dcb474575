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
    assert c == {"title": 1.0, "tag_precision": 1.0, "tag_recall": 1.0, "year": 1.0, "unverifiable": []}


def test_a_partly_right_answer():
    c = FactChecker(FACTS).check("Star Wars is a 1977 sci-fi comedy.", [3])
    assert c["title"] == 1.0 and c["year"] == 1.0
    assert c["tag_precision"] == 0.5 and abs(c["tag_recall"] - 1 / 3) < 1e-9  # sci-fi right, comedy wrong


def test_a_wrong_answer():
    c = FactChecker(FACTS).check("The movie is an animated comedy from 2010 by Christopher Nolan, like Toy Story.",
                                 [1])
    assert c["title"] == 0.0  # Fargo not named, and another catalogue title is
    assert c["tag_precision"] == 0.0 and c["tag_recall"] == 0.0 and c["year"] == 0.0
    assert c["unverifiable"] == ["Christopher Nolan", "Toy Story"]  # a name and a title outside the prompt


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
    assert "could be several" in reply and "The Terminator (1984)" in reply  # ambiguous: listed, article first
    assert "Titanic" in reply and "don't know" in reply  # unknown: said so
    assert s.liked[-1] == 7  # the typo still matched
    assert s.reply("Sense and Sensibility") .startswith("Noted: you like Sense and Sensibility")
    c = Catalogue(titles, years)
    assert c.find("Alien 4") == []  # a number that no title has is not matched fuzzily to another one


def test_titles_are_written_as_people_write_them():
    """MovieLens stores "Remains of the Day, The": prompts, targets and the chat say "The Remains of the Day"."""
    import numpy as np
    from recbole.utils import FeatureType

    from recbole_ilm.chat.catalogue import display_title
    from recbole_ilm.chat.tasks import TaskWriter, item_facts, make_examples

    assert display_title("Remains of the Day, The") == "The Remains of the Day"
    assert display_title("Family Thing, A (1996)") == "A Family Thing (1996)"
    assert display_title("Heat") == "Heat" and display_title("Theory, Practice") == "Theory, Practice"
    assert Catalogue(["", "Usual Suspects, The"], ["", "1995"]).label(1) == "The Usual Suspects (1995)"
    tokens = {"title": ["[PAD]", "Remains of the Day, The", "Heat"], "year": ["[PAD]", "1993", "1995"],
              "genre": ["[PAD]", "Drama", "Action"]}
    dataset = SimpleNamespace(item_num=3, item_feat={f: np.array([0, 1, 2]) for f in tokens},
                              field2type=dict.fromkeys(tokens, FeatureType.TOKEN),
                              id2token=lambda field, i: tokens[field][i])
    facts = item_facts(dataset, ["title", "year", "genre"])
    assert facts[1].title == "The Remains of the Day" and facts[2].title == "Heat"
    writer = TaskWriter(facts, "movie", "genres", grounding="metadata")
    example = make_examples(writer, np.array([1]), np.random.default_rng(0), tasks=("describe",))[0]
    assert "The Remains of the Day (1993)" in example.prompt and example.target.startswith("The Remains of the Day")
    assert FactChecker(facts).check("The Remains of the Day is a drama.", [1])["title"] == 1.0
    assert FactChecker(facts).check("Remains of the Day, The is a drama.", [1])["title"] == 1.0


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


def _bag_encoder(texts):
    """A stand-in sentence encoder: normalised bag of (a few) words."""
    import re

    import numpy as np

    vocab = ["crime", "drama", "thriller", "animation", "comedy", "funny", "action", "sci", "space", "prison"]
    synonyms = {"funny": "comedy", "space": "sci"}
    rows = []
    for t in texts:
        words = [synonyms.get(w, w) for w in re.findall(r"[a-z]+", t.lower())]
        v = np.array([float(words.count(w)) for w in vocab]) + 1e-3
        rows.append(v / np.linalg.norm(v))
    return np.stack(rows)


def test_free_text_request_filters_by_decade_and_fuses_with_the_recommender():
    from recbole_ilm.chat.grounding import ItemSearch

    search = ItemSearch(FACTS, _bag_encoder, "movie", "genres")
    assert ItemSearch.years("something funny from the 90s") == (1990, 1999)
    assert ItemSearch.years("a 1980s space film") == (1980, 1989) and ItemSearch.years("anything") is None
    assert [i for i, _ in search("something funny from the 90s", k=1)] == [2]  # Toy Story, comedy, 1995
    assert search("a space adventure from the 70s", k=2)[0] == (3, "Action, Adventure, Sci-Fi; 1977")
    assert all(i != 2 for i, _ in search("funny", exclude={2}, k=5))
    # the recommender's ranking re-orders the dense candidates (reciprocal-rank fusion)
    plain = [i for i, _ in search("a drama", k=5)]
    fused = [i for i, _ in search("a drama", k=5, ranking=[plain[2]])]
    assert fused == [plain[2]] + [i for i in plain if i != plain[2]]
    # ... but only the best text matches: an item the recommender loves that does not fit the request is not offered
    funny = [i for i, _ in search("something funny", k=5)]
    assert funny[0] == 2 and [i for i, _ in search("something funny", k=1, ranking=[1, 4, 2], candidates=1)] == [2]


def test_why_is_grounded_in_facts_and_a_wrong_llm_claim_is_replaced():
    import numpy as np

    from recbole_ilm.chat.grounding import Evidence

    cf = np.array([[0, 0], [1, 0], [0, 1], [1, 0.1], [0.2, 1], [0.9, 0.2]], dtype=np.float32)
    evidence = Evidence(FACTS, cf, "movie", "genres")
    text = evidence.text(5, [1, 3])  # Return of the Jedi for someone who liked Fargo and Star Wars
    assert text.startswith("Return of the Jedi (1983) is an action, sci-fi movie.")
    assert "Like Star Wars, which you liked, it is action and sci-fi." in text
    assert evidence.neighbour(5, [1, 3]) == 3  # cosine: (0.9, 0.2) is closest to Star Wars' (1, 0.1)
    assert evidence.neighbour(5, [1, 4]) == 1
    assert "Star Wars is the one whose audience it shares most" in text
    assert FactChecker(FACTS).check(text, [5], allowed=[1, 3])["tag_precision"] == 1.0
    wrong = "Return of the Jedi is a 1995 comedy."
    assert evidence.verified(wrong, [5], [1, 3], text) == text
    right = "Return of the Jedi is sci-fi action, like Star Wars."
    assert evidence.verified(right, [5], [1, 3], text) == right
    invented = "Return of the Jedi is a sci-fi film directed by Richard Marquand."
    assert evidence.verified(invented, [5], [1, 3], text) == text  # a name the catalogue cannot confirm
    assert evidence.verified("Return of the Jedi is sci-fi, like", [5], [1, 3], text) == text  # cut off
    assert evidence.why(right, 5, [1, 3]) == right  # true, and the reason names a liked movie
    assert evidence.why("Return of the Jedi (1983) is an action, sci-fi movie.", 5, [1, 3]) == text  # no reason
    assert evidence.why(wrong + " Like Star Wars.", 5, [1, 3]) == text
    # the chat's three item answers go through one door: kept when they hold, else the facts
    assert evidence.delivered("why", right, [1, 3, 5]) == right
    assert evidence.delivered("why", wrong, [1, 3, 5]) == text
    assert evidence.delivered("describe", "Fargo is a comedy.", [1]) == evidence.describe(1)
    assert evidence.delivered("describe", "Fargo is a crime thriller.", [1]) == "Fargo is a crime thriller."
    assert evidence.delivered("compare", "Both are fine.", [1, 3]) == evidence.compare(1, 3)
    assert evidence.why_prompt(5, [1, 3]).endswith("Use only these facts: " + text)
    swapped = "Fargo (1996) is an action film.\nStar Wars (1977) is a crime thriller."  # tags of the other one
    assert evidence.verified(swapped, [1, 3], [1, 3], "facts") == "facts"
    fine = "Fargo (1996) is a crime thriller.\nStar Wars (1977) is an action film."
    assert evidence.verified(fine, [1, 3], [1, 3], "facts") == fine
    merged = "Fargo (1996) is Star Wars (1977) is Action (1977)."  # one item said to be the other
    assert evidence.verified(merged, [1, 3], [1, 3], "facts") == "facts"
    assert evidence.verified("Star Wars is the Shawshank Redemption.", [3, 4], [3, 4], "facts") == "facts"

    titles = [f.title if f else "" for f in FACTS]
    said = []
    s = ChatSession(Catalogue(titles, [f.detail if f else "" for f in FACTS]),
                    lambda h, e, k: [i for i in (5, 2, 4) if i not in e][:k],
                    lambda prompt, items: said.append((prompt, items)) or wrong, noun="movie", evidence=evidence,
                    search=lambda q, exclude, k, ranking: [(2, "Animation; 1995")])
    s.reply("I liked Fargo and Star Wars")
    s.reply("recommend 1")
    assert s.reply("why the first one") == text  # the LLM's false sentence did not reach the user
    assert "Use only these facts: " + text in said[-1][0] and said[-1][1] == [5]
    assert s.reply("describe Fargo") == "Fargo (1996) is a crime, drama, thriller movie."  # the LLM's was wrong
    assert s.reply("compare Fargo and Toy Story") == ("Fargo (1996) is a crime, drama, thriller movie; "
                                                      "Toy Story (1995) is an animation, children's, comedy movie.")
    reply = s.reply("something funny")
    assert reply.startswith("For 'funny', you might try:") and "Toy Story (1995) — Animation; 1995" in reply
    assert s.reply("Shawshank Redemption, The").startswith("Noted")  # a title is a mention, not a request


def test_semantic_consistency_scores_equal_paraphrase_and_unrelated():
    from recbole_ilm.experiments.chat_eval import semantic_consistency

    target = "Fargo (1996) is a crime drama thriller movie."
    same, para, other = semantic_consistency(
        [target, "Fargo, from 1996, is a thriller about crime.", "Add two cups of flour and bake for an hour."],
        [target] * 3)
    assert abs(same - 100) < 1e-3
    assert para > 70 and other < 20 and para > other + 50


def test_every_grounded_target_passes_the_fact_check_it_is_scored_by():
    """A model trained to the targets can only meet the title metric if the targets name the items they are about
    (the old common / taste / why targets did not: "Both are drama movies.")."""
    import numpy as np

    from recbole_ilm.chat.tasks import GROUNDED_TASKS, TaskWriter, make_examples
    from recbole_ilm.experiments.chat_eval import subjects

    writer, checker = TaskWriter(FACTS, item_noun="movie", tag_noun="genres"), FactChecker(FACTS)
    items = np.arange(1, len(FACTS))
    for task in GROUNDED_TASKS:
        for example in make_examples(writer, items, np.random.default_rng(0), per_item=3, tasks=(task,)):
            c = checker.check(example.target, subjects(example), example.items)
            assert c["title"] == 1.0, (task, example.target)
            assert c["tag_precision"] in (None, 1.0) and c["year"] in (None, 1.0), (task, example.target)


def test_taste_and_why_targets_start_with_the_titles():
    """A small LLM copies a title from the prompt most reliably at the start of its answer; the taste target used to
    put the genres first ("They like drama and comedy movies: ...") and the trained model stopped before the titles."""
    from recbole_ilm.chat.tasks import TaskWriter

    writer = TaskWriter(FACTS, item_noun="movie", tag_noun="genres")
    assert writer.example("taste", [1, 3, 5]).target == \
        "They like Fargo, Star Wars and Return of the Jedi: action and sci-fi movies."
    assert writer.example("why", [1, 3, 5]).target == "Return of the Jedi is a action movie, like Star Wars."
    assert writer.example("why", [2, 3, 1]).target == \
        "Fargo would add a crime, drama, thriller movie to what they already like."


def test_titles_with_an_alias_are_named_and_found_as_people_write_them():
    """ML-1M's "Night Porter, The (Il Portiere di notte)": the article moves in front of the alias too, and a title
    named without its alias ("Nikita" for "Nikita (La Femme Nikita)") counts as named."""
    from recbole_ilm.chat.catalogue import display_title, main_title

    assert display_title("Night Porter, The (Il Portiere di notte)") == "The Night Porter (Il Portiere di notte)"
    assert display_title("Postino, Il (The Postman) (1994)") == "Il Postino (The Postman) (1994)"
    assert main_title("Nikita (La Femme Nikita) (1990)") == "Nikita" and main_title("(Untitled)") == "(Untitled)"
    facts = [None, F("Nikita (La Femme Nikita)", "1990", ["Thriller"]),
             F("Night Porter, The (Il Portiere di notte)", "1974", ["Drama"]), F("Fargo", "1996", ["Crime"])]
    checker = FactChecker(facts)
    assert checker.check("They like Nikita and The Night Porter.", [1, 2])["title"] == 1.0
    assert checker.check("They like Nikita (La Femme Nikita) and Night Porter.", [1, 2])["title"] == 1.0
    assert checker.check("They like Nikit and The Night Porter.", [1, 2])["title"] == 0.0
    assert checker.check("Night Porter, The (Il Portiere di notte) is a drama.", [2])["title"] == 1.0  # as stored
    catalogue = Catalogue(["", "Nikita (La Femme Nikita)", "Night Porter, The (Il Portiere di notte)"],
                          ["", "1990", "1974"])
    assert catalogue.find("The Night Porter") == [2] and catalogue.find("Nikita") == [1]
