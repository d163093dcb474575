"""``create_dataset`` / ``data_preparation``: RecBole's, plus early checks, counts and prompt dataloaders."""

from logging import getLogger

from recbole.data import create_samplers
from recbole.data import create_dataset as recbole_create_dataset
from recbole.data import data_preparation as recbole_data_preparation
from recbole.utils import set_color

from recbole_ilm.compat import unquoted_atomic_files
from recbole_ilm.data.dataloader import PromptFullSortEvalDataLoader, PromptTrainDataLoader
from recbole_ilm.data.history import history_offsets
from recbole_ilm.data.item_text import check_text_fields
from recbole_ilm.errors import ILMConfigError


def create_dataset(config):
    """RecBole's dataset for ``config`` after checking the text fields; logs users/items/interactions."""
    check_text_fields(config)
    try:
        with unquoted_atomic_files():
            dataset = recbole_create_dataset(config)
    except UnicodeDecodeError as e:
        raise ILMConfigError(
            f"an atomic file of '{config['dataset']}' in '{config['data_path']}' is not valid {e.encoding} "
            f"({e.reason} at byte {e.start}); convert it (e.g. iconv -f latin1 -t utf-8) or set encoding: latin-1"
        ) from None
    except (ValueError, KeyError) as e:
        raise ILMConfigError(f"RecBole could not load dataset '{config['dataset']}' from "
                             f"'{config['data_path']}': {e}") from e
    if dataset.inter_num == 0:
        raise ILMConfigError(f"dataset '{config['dataset']}' has no interactions left after filtering "
                             f"(user_inter_num_interval={config['user_inter_num_interval']}, "
                             f"item_inter_num_interval={config['item_inter_num_interval']})")
    _warn_duplicates(config, dataset)
    getLogger().info(
        set_color("Dataset after filtering", "pink")
        + f": {config['dataset']} users={dataset.user_num - 1} items={dataset.item_num - 1} "
        f"interactions={dataset.inter_num}"
    )
    return dataset


def _warn_duplicates(config, dataset):
    """Repeated (user, item, time) rows are kept by RecBole as repeat consumption; say so, with the fix."""
    feat = dataset.inter_feat
    keys = [f for f in (dataset.uid_field, dataset.iid_field, dataset.time_field) if f and f in feat]
    if not hasattr(feat, "duplicated") or len(keys) < 2:
        return 0
    duplicates = int(feat.duplicated(subset=keys).sum())
    if duplicates:
        getLogger().warning(
            f"dataset '{config['dataset']}' has {duplicates} duplicate ({', '.join(keys)}) rows; they are kept as "
            f"repeated interactions (histories and CF counts include them). Set rm_dup_inter: first to drop them"
        )
    return duplicates


def uses_prompts(config):
    """Whether the configured model reads prompts (the plugin's frozen-LLM models say so themselves)."""
    return getattr(getattr(config, "model_class", None), "uses_prompts", False)


def data_preparation(config, dataset):
    """RecBole's split and dataloaders; plugin LLM models get dataloaders that also carry prompt tensors."""
    if not uses_prompts(config):
        return recbole_data_preparation(config, dataset)
    from recbole_ilm.data.prompt_cache import get_prompt_builder

    model_class = config.model_class
    if config["eval_args"]["mode"]["valid"] != "full" or config["eval_args"]["mode"]["test"] != "full":
        raise ILMConfigError(f"eval_args.mode must be 'full' for {config['model']} (it scores every item)")
    built = dataset.build()
    train_ds, valid_ds, test_ds = built
    train_sampler, valid_sampler, test_sampler = create_samplers(config, dataset, built)
    builder = get_prompt_builder(config, train_ds)
    slots = model_class.uses_item_slots
    offsets = [None] * 3
    if slots and config["user_tokens"] in ("full_history", "fold_in"):
        offsets = history_offsets(config, train_ds, valid_ds, test_ds)
    train = PromptTrainDataLoader(config, train_ds, train_sampler, builder, slots, shuffle=config["shuffle"],
                                  history_offsets=offsets[0])
    valid = PromptFullSortEvalDataLoader(config, valid_ds, valid_sampler, builder, slots, history_offsets=offsets[1])
    test = PromptFullSortEvalDataLoader(config, test_ds, test_sampler, builder, slots, history_offsets=offsets[2])
    return train, valid, test
