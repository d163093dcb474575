"""Issue 13, "title correct": decoding that copies a title from the prompt, favours the subjects' titles and blocks
repeated n-grams — on a word-level toy tokenizer and scripted logits, so each rule is seen alone."""

import argparse
import re
from types import SimpleNamespace

import torch

from recbole_ilm.chat.decoding import CHAT, Decoding, RowDecoder, add_arguments, from_arguments, prompt_titles

END = "<end>"


class WordTokenizer:
    """Words (with their leading space) and punctuation marks are tokens; ids handed out on first sight."""

    def __init__(self):
        self.vocab, self.words = {END: 0}, [END]

    def id(self, piece):
        if piece not in self.vocab:
            self.vocab[piece] = len(self.words)
            self.words.append(piece)
        return self.vocab[piece]

    def encode(self, text):
        return [self.id(p) for p in re.findall(r"\s?\w+|\s?[^\w\s]", text)]

    def decode(self, ids):
        return "".join(self.words[i] for i in ids)


def run(tok, titles, script, decoding, subjects=(), scores=None, steps=40):
    """Decode until the script ends (then the end token wins): step k's logits put 1.0 on script[k]'s token, or
    ``scores[k]`` ({piece: logit}) when given."""
    row = RowDecoder(tok.encode, tok.decode, titles, subjects, decoding, end_ids=[0])
    ids = [[tok.id(p) for p in re.findall(r"\s?\w+|\s?[^\w\s]", piece)][0] for piece in script]
    for step in range(steps):
        logits = torch.zeros(200)
        if scores is not None and step < len(scores):
            for piece, value in scores[step].items():
                logits[tok.id(piece)] = value
        elif step < len(ids):
            logits[ids[step]] = 1.0
        else:
            logits[0] = 1.0
        if row.step(logits) == 0:
            return tok.decode(row.out[:-1])
    return tok.decode(row.out)


def test_a_title_begun_is_written_as_the_prompt_has_it():
    tok = WordTokenizer()
    titles = ["Gumby: The Movie", "Twister"]
    script = [" They", " like", " Gumby", ",", " Gumball", ",", " and", " Twister", "."]
    assert run(tok, titles, script, Decoding(copy_titles=False)) == " They like Gumby, Gumball, and Twister."
    # copied from " Gumby" on (5 characters, one title starts so): the script's next three steps are overridden
    assert run(tok, titles, script, Decoding()) == " They like Gumby: The Movie and Twister."


def test_no_copy_before_enough_characters_or_while_two_titles_fit():
    tok = WordTokenizer()
    # "The" (3 characters) starts "The Game" but "The movies ..." is not a title
    script = [" The", " movies", " are", " both", " thrillers", "."]
    assert run(tok, ["The Game", "Copycat"], script, Decoding()) == " The movies are both thrillers."
    # "Star" fits two titles: nothing is copied until the next word decides which
    script = [" Star", " Trek", " is", " fun", "."]
    out = run(tok, ["Star Wars", "Star Trek: First Contact"], script, Decoding())
    assert out == " Star Trek: First Contact"
    # a title's first token glued to a word is no start ("OverHeat" is not "Heat Wave"); at the answer's start it is
    assert run(tok, ["Heat Wave"], [" Over", "Heat", "ed", "."], Decoding()) == " OverHeated."
    assert run(tok, ["Heat Wave"], ["Heat", " is", "."], Decoding()) == "Heat Wave."


def test_cover_bias_favours_a_subject_not_named_yet_and_only_that():
    tok = WordTokenizer()
    titles = ["Rob Roy", "Twister"]
    scores = [{" They": 5.0}, {" like": 5.0}, {" Rob": 3.0, " Twister": 1.0}, {" Roy": 3.0},
              {" and": 3.0}, {" movies": 3.0, " Twister": 1.5}, {".": 3.0, " Rob": 2.9}]
    greedy = run(tok, titles, [], Decoding(), subjects=titles, scores=scores)
    assert greedy == " They like Rob Roy and movies."
    biased = run(tok, titles, [], Decoding(cover_bias=2.0), subjects=titles, scores=scores)
    # step 5: " Twister" (1.5 + 2) beats " movies" (3); step 6: "Rob Roy" is named, so " Rob" gets no bonus
    assert biased == " They like Rob Roy and Twister."
    # a title the prompt shows but the answer is not about gets no bonus
    assert run(tok, titles, [], Decoding(cover_bias=2.0), subjects=["Rob Roy"], scores=scores) == greedy


def test_cover_bias_continues_a_title_it_began_instead_of_beginning_another():
    """Two titles start with "The": a bonus for first tokens alone would write "The The The ..."."""
    tok = WordTokenizer()
    titles = ["The Paper", "The Sweet Hereafter"]
    scores = [{" They": 5.0}, {" like": 5.0}, {" the": 3.0, " The": 0.5}, {" movies": 3.0, " Paper": 0.5},
              {" and": 5.0}, {" the": 3.0, " The": 0.5}, {" movies": 3.0, " Sweet": 0.5}, {".": 3.0}, {".": 3.0}]
    out = run(tok, titles, [], Decoding(cover_bias=4.0), subjects=titles, scores=scores)
    assert out == " They like The Paper and The Sweet Hereafter."


def test_hold_end_keeps_an_answer_open_until_its_titles_are_named():
    tok = WordTokenizer()
    titles = ["Rob Roy", "Twister"]
    scores = [{" Rob": 3.0}, {" Roy": 3.0}, {" is": 3.0}, {" fun": 3.0}, {".": 3.0}, {END: 3.0, " and": 2.0},
              {" Twister": 3.0}, {".": 3.0}]
    assert run(tok, titles, [], Decoding(), subjects=titles, scores=scores) == " Rob Roy is fun."
    held = run(tok, titles, [], Decoding(hold_end=True), subjects=titles, scores=scores)
    assert held == " Rob Roy is fun. and Twister."  # the end waits; once both are named it comes as usual
    # an answer about "Rob Roy" alone ends where the model ends it
    assert run(tok, titles, [], Decoding(hold_end=True), subjects=["Rob Roy"], scores=scores) == " Rob Roy is fun."


def test_no_repeat_ngram_blocks_a_loop():
    tok = WordTokenizer()
    script = [" They", " like", " Brio", ",", " Brio", ",", " Brio", ",", " Brio", "."]
    assert run(tok, [], script, Decoding(no_repeat_ngram=0)) == " They like Brio, Brio, Brio, Brio."
    # the third " Brio" would repeat ", Brio" after "Brio": forbidden, the next-best logit (0.0) wins instead
    out = run(tok, [], script, Decoding(no_repeat_ngram=3))
    assert out.startswith(" They like Brio, Brio,") and out.count("Brio") == 2


def test_only_titles_the_prompt_shows_are_copied():
    facts = [None, SimpleNamespace(title="Fargo"), SimpleNamespace(title="Taxi Driver"),
             SimpleNamespace(title="The Game")]
    grounded = "Compare the movies {0} (Fargo (1996); genres: Crime) and {1} (Taxi Driver (1976); genres: Drama)."
    assert prompt_titles(grounded, [1, 2], facts) == ["Fargo", "Taxi Driver"]
    assert prompt_titles("Compare the movies {0} and {1}.", [1, 2], facts) == []  # tokens only: nothing to copy
    why = "Why might they like {0} (Fargo (1996))? Use only these facts: like The Game, which you liked."
    assert prompt_titles(why, [1], facts) == ["Fargo", "The Game"]


def test_the_command_lines_default_to_the_chats_decoding_and_greedy_turns_it_off():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert from_arguments(parser.parse_args([])) == CHAT == Decoding(cover_bias=6.0, hold_end=True)
    assert from_arguments(parser.parse_args(["--decoding", "greedy"])) is None
    assert from_arguments(parser.parse_args(["--no-hold_end", "--cover_bias", "2"])) == Decoding(cover_bias=2.0)
