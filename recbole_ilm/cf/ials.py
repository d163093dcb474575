"""iALS (``implicit``) user/item factors fitted on the training split only, cached on disk."""

import os
from logging import getLogger

import numpy as np

from recbole_ilm.cache import atomic_output, cache_path, dataset_fingerprint, options_key


def training_matrix(train_dataset):
    """CSR ``[user_num, item_num]`` of the training interactions (RecBole's own train-split matrix).

    For a sequential train split RecBole builds it from every training target plus the first item of each user's
    history, i.e. exactly the interactions before the validation item; validation/test items never enter.
    """
    matrix = train_dataset.inter_matrix(form="csr").astype(np.float32)
    matrix.data[:] = 1.0  # implicit feedback: repeated interactions do not add confidence here
    return matrix


def fit_ials(matrix, factors, regularization, iterations, alpha, seed):
    """``(user_factors, item_factors)`` as float32 arrays with the matrix's row/column counts; row 0 is zero."""
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):  # implicit's own threads do the work; BLAS threads would oversubscribe
        model = AlternatingLeastSquares(
            factors=factors, regularization=regularization, alpha=alpha, iterations=iterations,
            random_state=seed, num_threads=1,
        )
        model.fit(matrix, show_progress=False)
    users = np.asarray(model.user_factors, dtype=np.float32).copy()
    items = np.asarray(model.item_factors, dtype=np.float32).copy()
    # rows without any training interaction (padding row 0, cold items) carry no CF signal: zero them
    users[np.asarray(matrix.getnnz(axis=1)) == 0] = 0.0
    items[np.asarray(matrix.getnnz(axis=0)) == 0] = 0.0
    return users, items


def ials_embeddings(config, train_dataset):
    """Cached iALS factors for ``train_dataset`` and the ``cf_*`` / ``ials_*`` options."""
    matrix = training_matrix(train_dataset)
    key = {"fingerprint": dataset_fingerprint(train_dataset), "train_nnz": int(matrix.nnz),
           **options_key(config, "data", "ials")}
    path = os.path.join(cache_path(config, "ials", key), "factors.npz")
    logger = getLogger()
    if os.path.isfile(path):
        data = np.load(path)
        logger.info(f"iALS embeddings loaded from cache: {path}")
        return data["user"], data["item"]
    users, items = fit_ials(matrix, config["cf_dim"], config["ials_regularization"], config["ials_iterations"],
                            config["ials_alpha"], config["seed"])
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, user=users, item=items)
    logger.info(f"iALS fitted on {matrix.nnz} training interactions ({matrix.shape[0] - 1} users, "
                f"{matrix.shape[1] - 1} items), cached at {path}")
    return users, items
