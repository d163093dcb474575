"""Re-check the stored answers of a chat_train run (its results.json) with the current FactChecker, against the
titles their prompts showed (the display rule of 1e5680f, before the alias fix); prints old vs new title per task.

    python docs/conversation/recheck_titles.py ml-1m docs/conversation/grounding/titles-first/ml-1m/results.json \
        --data_path ../shared/datasets
"""
import json, sys
from recbole_ilm.config import Config
from recbole_ilm.data.dataset import create_dataset, data_preparation
import re
import recbole_ilm.chat.catalogue as catalogue
from recbole_ilm.chat.tasks import item_facts, GROUNDED_TASKS

_OLD_ARTICLE = re.compile(r"^(.*),\s*(the|a|an|les|la|le|il|el|der|die|das)$", re.IGNORECASE)
def old_display_title(title):  # the display rule the stored prompts and targets were made with (1e5680f)
    title = str(title).strip()
    year = catalogue._YEAR.search(title)
    stem = title[: year.start()] if year else title
    moved = _OLD_ARTICLE.match(stem)
    return f"{moved.group(2)} {moved.group(1)}{title[len(stem):]}" if moved else title
catalogue.display_title = old_display_title
from recbole_ilm.chat.facts import FactChecker, summarise
from recbole_ilm.experiments.chat_eval import SUBJECTS

dataset, path = sys.argv[1], sys.argv[2]
extra = {"data_path": sys.argv[sys.argv.index("--data_path") + 1]} if "--data_path" in sys.argv else {}
config = Config(model="ILM", dataset=dataset, config_dict={"show_progress": False, **extra})
train, _, _ = data_preparation(config, create_dataset(config))
checker = FactChecker(item_facts(train._dataset, config["item_text_fields"]))
res = json.load(open(path))["results"]
out = {}
for label, m in res.items():
    rows = {}
    for task in GROUNDED_TASKS:
        ans = m[task]["answers"]
        new = [checker.check(a["answer"], list(a["items"][SUBJECTS.get(task, slice(-1, None))]), a["items"]) for a in ans]
        old = [a["check"] for a in ans]
        rows[task] = {"old": summarise(old)["title"], "new": summarise(new)["title"],
                      "tag_p_old": summarise(old)["tag_precision"], "tag_p_new": summarise(new)["tag_precision"],
                      "changed": [a["answer"][:90] for a, o, n in zip(ans, old, new) if o["title"] != n["title"]][:6]}
    mean = lambda k: (lambda v: sum(v) / len(v))([rows[t][k] for t in GROUNDED_TASKS if rows[t][k] is not None])
    out[label] = {"tasks": rows, "grounded_title_old": mean("old"), "grounded_title_new": mean("new"),
                  "grounded_tag_p_old": mean("tag_p_old"), "grounded_tag_p_new": mean("tag_p_new")}
print("RESCORE", json.dumps(out, indent=1))
