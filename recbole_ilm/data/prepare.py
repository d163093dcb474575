"""Public raw files -> RecBole atomic files with the text columns the shipped dataset configs read.

    python -m recbole_ilm.data.prepare movielens --raw ml-1m/ --name ml-1m          # ratings.dat + movies.dat
    python -m recbole_ilm.data.prepare movielens --raw ml-100k/ --name ml-100k      # u.data + u.item
    python -m recbole_ilm.data.prepare amazon --reviews reviews_Beauty_5.json.gz \\
        --meta meta_Beauty.json.gz --name amazon-beauty                             # any Amazon 2014 category

Writes ``<out>/<name>/<name>.inter`` and ``<name>.item`` (default ``--out dataset``, RecBole's own ``data_path``,
so ``-d <name>`` finds them without ``--data_path``). Files are written to temporary names and renamed at the end:
a malformed input line stops the conversion with its file and line number and leaves nothing half-written.
RecBole's own atomic files for ml-100k / ml-1m (as RecBole downloads them) need no conversion.
"""

import argparse
import ast
import gzip
import json
import os
import re
import sys

from recbole_ilm import cli
from recbole_ilm.errors import ILMConfigError

MOVIELENS_100K_GENRES = ("unknown Action Adventure Animation Children's Comedy Crime Documentary Drama Fantasy "
                         "Film-Noir Horror Musical Mystery Romance Sci-Fi Thriller War Western").split()
_YEAR = re.compile(r"^(.*?)\s*\((\d{4})\)\s*$")


def clean(text):
    """One atomic-file field: no tabs or line breaks, single spaces."""
    return " ".join(str(text).split())


def split_title(title):
    """``"Toy Story (1995)"`` -> ``("Toy Story", "1995")``; titles without a year keep ``""``."""
    match = _YEAR.match(title.strip())
    return (match.group(1), match.group(2)) if match else (title.strip(), "")


def _lines(path, encoding="utf-8"):
    opener = gzip.open if path.endswith(".gz") else open
    number = 0
    try:
        with opener(path, "rt", encoding=encoding, errors="strict") as f:
            for number, line in enumerate(f, start=1):
                if line.strip():
                    yield number, line.rstrip("\n")
    except UnicodeDecodeError as e:
        raise _bad(path, number + 1, f"not valid {encoding} ({e.reason})") from None
    except (OSError, EOFError) as e:  # e.g. a truncated .gz
        raise _bad(path, number + 1, f"unreadable ({type(e).__name__}: {e})") from None


def _bad(path, number, why):
    return ILMConfigError(f"{path}, line {number}: {why}; fix or remove that line and run the conversion again")


def _fields(path, number, line, sep, count):
    parts = line.split(sep)
    if len(parts) < count:
        raise _bad(path, number, f"expected {count} '{sep}'-separated fields, found {len(parts)}")
    return parts


def _ratings(path, sep):
    """``(user, item, time)`` rows of a MovieLens ratings file (user, item, rating, time per line; Latin-1)."""
    rows = []
    for number, line in _lines(path, "latin-1"):
        user, item, _, stamp = _fields(path, number, line, sep, 4)[:4]
        rows.append((user, item, _number(stamp, path, number)))
    return rows


def _ml100k_item(path, number, line):
    parts = _fields(path, number, line, "|", 5 + len(MOVIELENS_100K_GENRES))
    flags = parts[-len(MOVIELENS_100K_GENRES):]
    return parts[0], parts[1], [g for g, flag in zip(MOVIELENS_100K_GENRES, flags) if flag.strip() == "1"]


def _ml1m_item(path, number, line):
    item, title, genres = _fields(path, number, line, "::", 3)[:3]
    return item, title, genres.split("|")


def movielens(raw):
    """``(interactions, items)`` from a MovieLens folder: ml-1m/10m style (``ratings.dat``, ``movies.dat``, ``::``,
    Latin-1) or ml-100k style (``u.data`` tab-separated, ``u.item`` ``|``-separated with 19 genre flags)."""
    if os.path.isfile(os.path.join(raw, "ratings.dat")):
        files, sep, parse, tag_column = ("ratings.dat", "movies.dat"), "::", _ml1m_item, "genre"
    elif os.path.isfile(os.path.join(raw, "u.data")):
        files, sep, parse, tag_column = ("u.data", "u.item"), "\t", _ml100k_item, "class"
    else:
        raise ILMConfigError(f"--raw: '{raw}' has neither ratings.dat (ml-1m) nor u.data (ml-100k)")
    inter = _ratings(os.path.join(raw, files[0]), sep)
    item_path, items = os.path.join(raw, files[1]), []
    for number, line in _lines(item_path, "latin-1"):
        item, title, genres = parse(item_path, number, line)
        name, year = split_title(title)
        items.append((item, name, year, " ".join(genres)))
    return inter, items, ("movie_title", "release_year", tag_column)


def _number(text, path, number):
    try:
        return float(text)
    except ValueError:
        raise _bad(path, number, f"'{text}' is not a number") from None


def _record(path, number, line):
    """One Amazon 2014 record: JSON, or the Python literal the metadata dumps use (parsed, never executed)."""
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        try:
            record = ast.literal_eval(line)
        except (ValueError, SyntaxError):
            raise _bad(path, number, "neither a JSON object nor a Python dict literal") from None
    if not isinstance(record, dict):
        raise _bad(path, number, "not an object")
    return record


def amazon(reviews, meta):
    """``(interactions, items)`` from an Amazon 2014 review dump (``reviews_<Category>_5.json.gz``) and its
    metadata (``meta_<Category>.json.gz``): user, item, time; title, brand, categories (joined with ' | ')."""
    inter, used = [], set()
    for number, line in _lines(reviews):
        record = _record(reviews, number, line)
        try:
            inter.append((record["reviewerID"], record["asin"], float(record["unixReviewTime"])))
        except (KeyError, TypeError, ValueError):
            raise _bad(reviews, number, "a review needs reviewerID, asin and unixReviewTime") from None
        used.add(record["asin"])
    items = []
    for number, line in _lines(meta):
        record = _record(meta, number, line)
        if "asin" not in record:
            raise _bad(meta, number, "a product needs an asin")
        if record["asin"] not in used:
            continue
        paths = record.get("categories") or []
        categories = " | ".join(dict.fromkeys(c for path in paths for c in path)) if paths else ""
        items.append((record["asin"], record.get("title", ""), record.get("brand", ""), categories))
    return inter, items, ("title", "brand", "categories")


def write_atomic_files(out, name, inter, items, text_columns):
    """``<out>/<name>/<name>.inter`` / ``.item`` (tab-separated, RecBole's typed header); all or nothing."""
    folder = os.path.join(out, name)
    os.makedirs(folder, exist_ok=True)
    header_item = "\t".join(["item_id:token"] + [f"{c}:token" if c == "release_year" else f"{c}:token_seq"
                                                 for c in text_columns])
    files = {f"{name}.inter": ["user_id:token\titem_id:token\ttimestamp:float"]
             + [f"{clean(u)}\t{clean(i)}\t{t:g}" for u, i, t in inter],
             f"{name}.item": [header_item] + ["\t".join(clean(v) for v in row) for row in items]}
    written = []
    try:
        for file_name, rows in files.items():
            tmp = os.path.join(folder, f".{file_name}.{os.getpid()}.tmp")
            written.append(tmp)
            with open(tmp, "w", encoding="utf-8") as f:
                f.write("\n".join(rows) + "\n")
        for file_name, tmp in zip(files, written):
            os.replace(tmp, os.path.join(folder, file_name))
    finally:
        for tmp in written:
            if os.path.exists(tmp):
                os.remove(tmp)
    return folder


def prepare(kind, name, out="dataset", raw=None, reviews=None, meta=None):
    if kind == "movielens":
        if not raw or not os.path.isdir(raw):
            raise ILMConfigError(f"--raw: '{raw}' is not a folder with MovieLens files")
        inter, items, columns = movielens(raw)
    else:
        for flag, path in (("--reviews", reviews), ("--meta", meta)):
            if not path or not os.path.isfile(path):
                raise ILMConfigError(f"{flag}: no such file '{path}'")
        inter, items, columns = amazon(reviews, meta)
    folder = write_atomic_files(out, name, inter, items, columns)
    print(f"{folder}: {len(inter)} interactions, {len(items)} items with text ({', '.join(columns)})")
    return folder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=["movielens", "amazon"], help="which raw format")
    parser.add_argument("--name", required=True, help="dataset name (-d <name> later), e.g. ml-1m, amazon-beauty")
    parser.add_argument("--out", default="dataset", help="folder that gets <name>/ (RecBole's data_path)")
    parser.add_argument("--raw", help="MovieLens: folder with ratings.dat + movies.dat, or u.data + u.item")
    parser.add_argument("--reviews", help="Amazon: reviews_<Category>_5.json.gz")
    parser.add_argument("--meta", help="Amazon: meta_<Category>.json.gz")
    args = cli.parse(parser, argv)
    return cli.run(prepare, args.kind, args.name, args.out, args.raw, args.reviews, args.meta)


if __name__ == "__main__":
    sys.exit(main())
