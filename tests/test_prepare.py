"""Issue 15 (data part): public raw files -> atomic files; RecBole's default data_path; clear errors."""

import gzip
import json
import os
import sys

import pytest

from recbole_ilm.data.prepare import main, prepare
from recbole_ilm.errors import ILMConfigError

GENRES = ["Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi"]


def write_ml1m_raw(folder, n_users=30, n_items=25, per_user=10):
    """ratings.dat / movies.dat as GroupLens ships them ('::', Latin-1, 'Title (Year)', genres with '|')."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "ratings.dat"), "w", encoding="latin-1") as f:
        for u in range(1, n_users + 1):
            for k in range(per_user):
                f.write(f"{u}::{(u * 3 + k) % n_items + 1}::4::{978300000 + 100 * k + u}\n")
    with open(os.path.join(folder, "movies.dat"), "w", encoding="latin-1") as f:
        for i in range(1, n_items + 1):
            f.write(f"{i}::Café Movie {i} ({1990 + i % 10})::{GENRES[i % 6]}|{GENRES[(i + 1) % 6]}\n")
    return folder


def read(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t") for line in f]


def test_movielens_1m_raw_files(tmp_path):
    folder = prepare("movielens", "ml-1m", str(tmp_path / "dataset"), raw=write_ml1m_raw(str(tmp_path / "raw")))
    inter, item = read(os.path.join(folder, "ml-1m.inter")), read(os.path.join(folder, "ml-1m.item"))
    assert inter[0] == ["user_id:token", "item_id:token", "timestamp:float"] and len(inter) == 301
    assert item[0] == ["item_id:token", "movie_title:token_seq", "release_year:token", "genre:token_seq"]
    assert item[1] == ["1", "Café Movie 1", "1991", "Comedy Drama"]  # Latin-1 read, year split off the title


def test_movielens_100k_raw_files(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "u.data").write_text("".join(f"{u}\t{i}\t3\t{880000000 + u * 10 + i}\n" for u in (1, 2) for i in (1, 2)))
    flags = ["0"] * 19
    flags[1] = flags[5] = "1"  # Action, Comedy
    (raw / "u.item").write_text("1|Toy Story (1995)|01-Jan-1995||http://x|" + "|".join(flags) + "\n"
                                "2|GoldenEye (1995)|01-Jan-1995||http://y|" + "|".join(["0"] * 18 + ["1"]) + "\n",
                                encoding="latin-1")
    folder = prepare("movielens", "ml-100k", str(tmp_path / "dataset"), raw=str(raw))
    item = read(os.path.join(folder, "ml-100k.item"))
    assert item[0][3] == "class:token_seq"
    assert item[1:] == [["1", "Toy Story", "1995", "Action Comedy"], ["2", "GoldenEye", "1995", "Western"]]


def test_amazon_2014_dumps_json_and_python_literals(tmp_path):
    reviews, meta = tmp_path / "reviews_Toys_5.json.gz", tmp_path / "meta_Toys.json.gz"
    with gzip.open(reviews, "wt") as f:
        for u, a, t in (("A1", "B01", 1400000000), ("A1", "B02", 1400000100), ("A2", "B01", 1400000050)):
            f.write(json.dumps({"reviewerID": u, "asin": a, "overall": 5.0, "unixReviewTime": t}) + "\n")
    with gzip.open(meta, "wt") as f:  # the 2014 metadata is one Python literal per line (single quotes)
        f.write("{'asin': 'B01', 'title': 'Wooden\\ttrain set', 'brand': 'Brio', "
                "'categories': [['Toys & Games', 'Trains'], ['Toys & Games', 'Wooden']]}\n")
        f.write(json.dumps({"asin": "B02", "title": "Kite"}) + "\n")
        f.write("{'asin': 'B99', 'title': 'never reviewed'}\n")
    folder = prepare("amazon", "amazon-toys", str(tmp_path / "dataset"), reviews=str(reviews), meta=str(meta))
    item = read(os.path.join(folder, "amazon-toys.item"))
    assert item[0] == ["item_id:token", "title:token_seq", "brand:token_seq", "categories:token_seq"]
    assert item[1:] == [["B01", "Wooden train set", "Brio", "Toys & Games | Trains | Wooden"], ["B02", "Kite", "", ""]]
    assert len(read(os.path.join(folder, "amazon-toys.inter"))) == 4


def test_a_malformed_line_names_file_and_line_and_writes_nothing(tmp_path, capsys):
    raw = write_ml1m_raw(str(tmp_path / "raw"))
    with open(os.path.join(raw, "ratings.dat"), "a", encoding="latin-1") as f:
        f.write("31::7\n")
    out = tmp_path / "dataset"
    assert main(["movielens", "--raw", raw, "--name", "ml-1m", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "ratings.dat, line 301: expected 4 '::'-separated fields, found 2" in err
    assert not (out / "ml-1m" / "ml-1m.inter").exists() and not (out / "ml-1m" / "ml-1m.item").exists()
    meta = tmp_path / "meta.json.gz"
    with gzip.open(meta, "wt") as f:
        f.write("{'asin': 'B01'}\n{'asin': 'B02', 'title': \n")
    reviews = tmp_path / "reviews.json.gz"
    with gzip.open(reviews, "wt") as f:
        f.write(json.dumps({"reviewerID": "A", "asin": "B01", "unixReviewTime": 1}) + "\n")
    with pytest.raises(ILMConfigError, match=r"meta.json.gz, line 2: neither a JSON object nor a Python dict"):
        prepare("amazon", "x", str(out), reviews=str(reviews), meta=str(meta))
    assert not (out / "x" / "x.item").exists()


def test_a_recbole_style_dataset_folder_runs_without_data_path(tmp_path, monkeypatch):
    """Converted into ./dataset/ml-1m (RecBole's default data_path), -d ml-1m finds it with no --data_path."""
    import run_recbole_ilm

    monkeypatch.chdir(tmp_path)
    assert main(["movielens", "--raw", write_ml1m_raw(str(tmp_path / "raw"), n_users=40), "--name", "ml-1m"]) == 0
    argv = ["-m", "SASRec", "-d", "ml-1m", "--epochs=1", "--hidden_size=16", "--inner_size=32", "--n_layers=1",
            "--n_heads=1", "--state=WARNING", "--show_progress=False"]
    monkeypatch.setattr(sys, "argv", ["run_recbole_ilm.py"] + argv)
    assert run_recbole_ilm.main(argv) == 0
    assert any(name.startswith("SASRec-") for name in os.listdir(tmp_path / "saved"))


def test_a_missing_dataset_says_how_to_get_it(tmp_path, monkeypatch):
    from recbole_ilm.config import Config

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ILMConfigError, match=r"python -m recbole_ilm.data.prepare movielens --raw <folder> --name ml-1m"):
        Config(model="SASRec", dataset="ml-1m")


def test_recboles_own_ml1m_atomic_files_work_unchanged(tmp_path, monkeypatch):
    """RecBole's download of ml-1m (a rating column, a .user file) is read as it is, from ./dataset/ml-1m."""
    from recbole_ilm.config import Config
    from recbole_ilm.data.dataset import create_dataset

    folder = tmp_path / "dataset" / "ml-1m"
    folder.mkdir(parents=True)
    (folder / "ml-1m.inter").write_text("user_id:token\titem_id:token\trating:float\ttimestamp:float\n" + "".join(
        f"{u}\t{(u + k) % 12 + 1}\t4\t{100 * k + u}\n" for u in range(1, 21) for k in range(8)))
    (folder / "ml-1m.item").write_text("item_id:token\tmovie_title:token_seq\trelease_year:token\tgenre:token_seq\n"
                                       + "".join(f"{i}\tFilm {i}\t199{i % 10}\tDrama\n" for i in range(1, 13)))
    (folder / "ml-1m.user").write_text("user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
                                       + "".join(f"{u}\t25\tF\t1\t00000\n" for u in range(1, 21)))
    monkeypatch.chdir(tmp_path)
    dataset = create_dataset(Config(model="ILM", dataset="ml-1m"))
    assert dataset.user_num - 1 == 20 and dataset.item_num - 1 == 12
