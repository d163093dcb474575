"""Issue 5, dialogue logic: title matching and the conversation state, with stand-in models (fast)."""

from recbole_ilm.chat.catalogue import Catalogue, normalise
from recbole_ilm.chat.session import MAX_CHARS, ChatSession
from recbole_ilm.errors import ILMConfigError

TITLES = ["", "Toy Story", "Star Wars", "Return of the Jedi", "Shawshank Redemption, The", "Sense and Sensibility",
          "Star Trek: First Contact", "Heat", "Fargo", "Star Trek: Generations", "Toy Story"]
DETAILS = ["", "1995", "1977", "1983", "1994", "1995", "1996", "1995", "1996", "1994", "2010"]


def catalogue():
    return Catalogue(TITLES, DETAILS)


def test_titles_match_exactly_by_words_or_fuzzily():
    c = catalogue()
    assert normalise("Shawshank Redemption, The (1994)") == "the shawshank redemption"
    assert c.find("the shawshank redemption") == [4]
    assert c.find("HEAT") == [7]
    assert c.find("Fargoo") == [8]  # a typo of one title
    assert c.find("star trek") == [9, 6]  # several titles contain these words: all listed, shortest first
    assert c.find("Toy Story") == [1, 10]  # two items share the title
    assert c.find("Titanic") == []
    assert c.find("   ") == []


class Fakes:
    """Stand-in recommender (the catalogue in order, minus exclusions) and LLM (echoes its prompt)."""

    def __init__(self):
        self.calls = []

    def recommend(self, history, exclude, k):
        self.calls.append((list(history), set(exclude), k))
        return [i for i in range(1, len(TITLES)) if i not in exclude][:k]

    def say(self, prompt, items):
        return f"LLM[{prompt}|{items}]"


def session():
    fakes = Fakes()
    return ChatSession(catalogue(), fakes.recommend, fakes.say, noun="movie"), fakes


def test_conversation_mention_recommend_why_reject_and_ask_again():
    s, fakes = session()
    assert "Heat (1995), Fargo (1996)" in s.reply("I liked Heat and Fargo")
    assert s.liked == [7, 8]
    first = s.reply("recommend three movies")
    assert fakes.calls[-1] == ([7, 8], {7, 8}, 3)
    assert "1. Toy Story (1995)" in first and "3. Return of the Jedi" in first
    why = s.reply("why the first one?")
    assert why == "LLM[Someone enjoyed {0} and {1}. Why might they like the movie {2}?|[7, 8, 1]]"
    again = s.reply("not that one")
    assert "OK, not Toy Story (1995)" in again and "1. Star Wars" in again
    assert 1 in fakes.calls[-1][1]  # the rejected item is excluded from now on
    assert "Toy Story (1995)" not in s.reply("recommend 3").split("\n", 1)[1]
    assert s.reply("why #2").endswith("[7, 8, 3]]")


def test_titles_with_and_are_not_split_and_more_like_puts_the_item_last():
    s, fakes = session()
    s.reply("I loved Sense and Sensibility")
    assert s.liked == [5]
    s.reply("more like Heat")
    assert fakes.calls[-1][0] == [5, 7]
    assert "Reply with a number" in s.reply("more like star trek")
    picked = s.reply("1")  # the pick completes "more like": it recommends at once
    assert "Noted: you like Star Trek: Generations" in picked and "you might enjoy" in picked
    assert fakes.calls[-1][0] == [5, 7, 9]
    assert s.reply("describe Fargo") == "LLM[Describe the movie {0}.|[8]]"
    assert s.reply("compare Heat and Fargo") == "LLM[Compare the movies {0} and {1}.|[7, 8]]"


def test_bad_input_gets_a_message_and_the_conversation_continues():
    s, fakes = session()
    assert "empty message" in s.reply("   ")
    assert f"under {MAX_CHARS}" in s.reply("x" * (MAX_CHARS + 1))
    assert "don't know a movie called 'Titanic'" in s.reply("I liked Titanic")
    assert "one or two movies you like first" in s.reply("recommend 3")
    assert fakes.calls == []
    assert "nothing to reject" in s.reply("not that one")
    listing = s.reply("I liked star trek")
    assert "1. Star Trek: Generations (1994)" in listing and "Reply with a number" in listing
    assert "from 1 to 2" in s.reply("5")
    assert "Star Trek: First Contact" in s.reply("2") and s.liked == [6]

    def refuse(path):
        raise ILMConfigError(f"checkpoint '{path}' was trained on 'ml-1m', but this conversation uses 'ml-100k'")

    s.load_fn = refuse
    assert "was trained on 'ml-1m'" in s.reply("/load other.pth")
    assert "Since you like Star Trek: First Contact" in s.reply("recommend 2")


def test_several_ambiguous_mentions_are_asked_one_after_another():
    s, fakes = session()
    first = s.reply("I liked Star Trek, Heat and Toy Story")
    assert "Noted: you like Heat (1995)" in first
    assert "'Star Trek' could be several" in first and "(Then I will ask about 'Toy Story'.)" in first
    assert "'Toy Story' could be several" not in first  # one list at a time, so a number is never ambiguous
    second = s.reply("2")
    assert "Noted: you like Star Trek: First Contact (1996)" in second and "'Toy Story' could be several" in second
    assert "Noted: you like Toy Story (2010)" in s.reply("2")
    assert s.liked == [7, 6, 10]


def test_a_pick_finishes_the_request_that_was_ambiguous():
    s, fakes = session()
    s.reply("I liked Heat")
    assert "could be several" in s.reply("describe star trek")
    assert s.reply("1") == "LLM[Describe the movie {0}.|[9]]" and s.liked == [7]  # described, not noted as liked
    assert "could be several" in s.reply("compare toy story and star trek")
    assert "'star trek' could be several" in s.reply("1")  # first title picked, now the second one
    assert s.reply("2") == "LLM[Compare the movies {0} and {1}.|[1, 6]]"
    assert "could be several" in s.reply("why star trek")
    assert s.reply("2").startswith("LLM[Someone enjoyed") and s.liked == [7]


def test_help_speaks_the_catalogues_words():
    """Issue 13.6: on Amazon Beauty the help line gave movie examples ('I liked Toy Story and Heat')."""
    products = Catalogue(["", "Xtreme Brite Brightening Gel 1oz.", "Nivea Lip Balm", "Argan Oil Hair Mask"])
    reply = ChatSession(products, lambda h, e, k: [], lambda p, i: "", noun="product").reply("help")
    assert "products you like" in reply and "Nivea Lip Balm" in reply and "moisturiser" in reply
    assert "Toy Story" not in reply and "90s" not in reply
    movies = ChatSession(catalogue(), lambda h, e, k: [], lambda p, i: "", noun="movie").reply("")
    assert "I liked Heat and Fargo" in movies and "something funny from the 90s" in movies
