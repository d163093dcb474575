"""Orders of the catalogue that give item ids collaborative structure (``item_indexing``).

An id index writes code ``k + 1`` for the item at position ``k`` of an order, so items whose codes share their
leading digit chunks (the first levels of the id trie) are neighbours in that order. Both orders are balanced
hierarchical clusterings, made by splitting a feature matrix recursively at the median of its principal axis:

* ``collaborative`` (OpenP5's collaborative indexing, a spectral clustering of the item co-occurrence graph): the
  features are the leading eigenvectors of the normalised co-occurrence matrix of the training split, scaled by
  their eigenvalues, rows normalised (Ng-Jordan-Weiss spectral clustering);
* ``semantic`` (TIGER's idea, with recursive principal-axis bisection as the quantiser instead of an RQ-VAE or
  residual k-means): the features are the items' CF embeddings;
* ``text`` (TIGER's own input): the features are sentence embeddings (all-MiniLM-L6-v2) of the items' text
  (``item_text_fields``), so an item bought by few users still shares its id prefix with items like it.

Every split is balanced (halves differ by at most one item), so each id is still unique and fixed-length and the
trie and exact scoring work unchanged; ``random`` (the paper's default) keeps the seeded permutation.
"""

import numpy as np


def bisection_order(features):
    """Leaf order of a balanced binary tree: each node splits its rows at the median of their principal axis."""
    features = np.asarray(features, dtype=np.float64)
    order = []
    stack = [np.arange(len(features))]
    while stack:
        rows = stack.pop()
        if len(rows) <= 2:
            order.extend(rows.tolist())
            continue
        x = features[rows] - features[rows].mean(axis=0)
        if not np.any(x):
            order.extend(rows.tolist())
            continue
        axis = np.linalg.svd(x, full_matrices=False)[2][0]
        ranked = rows[np.argsort(x @ axis, kind="stable")]
        half = len(ranked) // 2
        stack.extend([ranked[half:], ranked[:half]])  # the lower half is popped (written) first
    return np.asarray(order, dtype=np.int64)


def spectral_features(matrix, dim=16):
    """Spectral embedding ``[items, dim]`` of the item co-occurrence graph ``R^T R`` of a user x item matrix."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import eigsh

    binary = sp.csr_matrix(matrix, dtype=np.float64)
    binary.data[:] = 1.0
    cooc = (binary.T @ binary).tocsr()
    cooc.setdiag(0)
    cooc.eliminate_zeros()
    degree = np.asarray(cooc.sum(axis=1)).ravel()
    inv_sqrt = np.where(degree > 0, 1.0 / np.sqrt(np.maximum(degree, 1e-12)), 0.0)
    norm = sp.diags(inv_sqrt) @ cooc @ sp.diags(inv_sqrt)
    k = min(dim, norm.shape[0] - 2)
    if k < 1:
        return np.zeros((norm.shape[0], 1))
    values, vectors = eigsh(norm, k=k, which="LA", v0=np.full(norm.shape[0], 1.0 / np.sqrt(norm.shape[0])))
    features = vectors * np.clip(values, 0, None)  # strong (community) directions dominate the principal axes
    length = np.linalg.norm(features, axis=1, keepdims=True)
    return np.divide(features, length, out=np.zeros_like(features), where=length > 0)  # Ng-Jordan-Weiss rows


def item_order(scheme, matrix=None, cf_items=None, text_items=None):
    """Internal item ids ``1..n`` in the order of ``scheme`` (collaborative: the training matrix ``[users, items]``;
    semantic: the CF item table ``[items, d]``; text: the item text embeddings ``[items, d]``); row/column 0
    (padding) is left out."""
    if scheme == "collaborative":
        features = spectral_features(matrix[:, 1:])
    elif scheme == "semantic":
        features = np.asarray(cf_items)[1:]
    elif scheme == "text":
        features = np.asarray(text_items)[1:]
    else:
        raise ValueError(f"no item order for item_indexing: {scheme}")
    return bisection_order(features) + 1
