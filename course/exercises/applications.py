"""Chapter 10 — applications: pooling padded text, boxes, non-maximum suppression, masks, returns.

Each exercise is judged against an independent oracle: a per-row loop over the real tokens
(``masked_mean``), areas counted on a fine raster of the boxes (``box_iou``), a brute-force
greedy suppression checked against the properties that define it (``nms``),
scikit-learn's confusion matrix (``mean_iou``), and the closed-form sum
``G_t = Σ_k γ^k r_{t+k}`` (``discounted_returns``). The ``reference_*`` functions are what
the notebook falls back on (``yours_or``) until the learner's own versions exist.
"""
from __future__ import annotations

import numpy as np

from course.exercise import (Case, Exercise, TensorData, Wrong, describe, expect_array,
                             expect_number, expect_tensor, mistake_hint, register)

# --------------------------------------------------------------------------- 10.1

def reference_masked_mean(h, mask):
    """h (N, T, D), mask (N, T) bool, True for real tokens -> (N, D) mean over the real tokens."""
    m = mask.unsqueeze(-1).to(h.dtype)                  # (N, T, 1)
    return (h * m).sum(dim=1) / m.sum(dim=1)            # (N, D) / (N, 1) -> (N, D)


def _masks(rng, n, t, left=False):
    lengths = rng.integers(1, t + 1, size=n)
    lengths[0] = t                                       # one full row
    lengths[-1] = 1                                      # one row with a single real token
    cols = np.arange(t)[None]                            # (1, T)
    mask = cols >= (t - lengths[:, None]) if left else cols < lengths[:, None]
    return mask


def _masked_mean_cases(rng: np.random.Generator) -> list[Case]:
    def case(label, n, t, d, dtype="float32", left=False, mask=None):
        if mask is None:
            mask = _masks(rng, n, t, left)
        h = rng.normal(0, 1, size=(n, t, d))
        h[~mask] = rng.uniform(50, 100, size=(int((~mask).sum()), d))   # padding holds junk
        return Case(label, dict(h=h.astype(dtype), mask=mask, dtype=dtype))

    scattered = rng.random((4, 9)) < 0.5
    scattered[np.arange(4), rng.integers(0, 9, size=4)] = True
    return [case("5 rows of up to 7 tokens, padding on the right", 5, 7, 3),
            case("padding on the left", 4, 6, 5, left=True),
            case("real tokens scattered (any True/False pattern)", 4, 9, 2, mask=scattered),
            case("float64, 16 rows of up to 20 tokens, D=8", 16, 20, 8, dtype="float64"),
            case("one row of a single token", 1, 1, 4),
            case("no padding at all", 3, 5, 2, mask=np.ones((3, 5), bool))]


def _masked_mean_call(answer, h, mask, dtype):
    import torch

    ht = torch.tensor(h, requires_grad=True)
    out = answer(ht, torch.tensor(mask))
    return {"out": out, "mutated": not np.array_equal(ht.detach().numpy(), h)}


def _mm(h, mask, count, keep):
    """Variants: sum of h over `keep` divided by `count`."""
    m = keep[..., None].astype(np.float64)
    return (h * m).sum(1) / count


def _masked_mean_judge(inputs: dict, got) -> None:
    h, mask = inputs["h"].astype(np.float64), inputs["mask"]
    ref = np.stack([h[i][mask[i]].mean(axis=0) for i in range(len(h))])   # the oracle: a loop
    out = got.get("out") if isinstance(got, dict) else got
    got_shape = out.array.shape if isinstance(out, TensorData) else None
    arr = expect_tensor(out, ref.shape, "the result", numpy_hint="Use torch operations on h and "
                        "mask and return a tensor (gradients must flow).", shape_hint=(
                            "Reduce over the tokens (dim=1) and keep the features: (N, T, D) -> (N, D)."
                            if got_shape in ((len(h), h.shape[1]), (h.shape[0],), ()) else None))
    if got["mutated"]:
        raise Wrong("your function changed h in place.", "Build new tensors: h * m, not h *= m.")
    want = f"torch.{inputs['dtype']}"
    if out.dtype != want:
        raise Wrong(f"returned dtype {out.dtype}, expected {want} (the dtype of h).",
                    "Turn the mask into h's dtype before multiplying: mask.to(h.dtype).")
    if not np.all(np.isfinite(arr)):
        raise Wrong("the result contains NaN or inf.",
                    "Divide by the number of real tokens, mask.sum(dim=1): True marks the real "
                    "tokens — is your mask inverted?")
    tol = dict(rtol=1e-5, atol=1e-5) if inputs["dtype"] == "float32" else dict(rtol=1e-9, atol=1e-12)
    if np.allclose(arr, ref, **tol):
        if not out.requires_grad:
            raise Wrong("the result is not connected to h: no gradient can flow back.",
                        "Compute it with torch operations on h (no .numpy(), .detach() or "
                        "torch.tensor(...) along the way).")
        return
    with np.errstate(all="ignore"):
        hint = _masked_mean_mistake(arr, h, mask, tol)
    err = float(np.max(np.abs(arr - ref)))
    raise Wrong(f"values differ from the mean over the real tokens (max error {err:.3g}).", hint)


def _masked_mean_mistake(arr, h, mask, tol):
    n_real = mask.sum(1, keepdims=True)
    T = h.shape[1]
    return mistake_hint(arr, dict(h=h, mask=mask), [
        (lambda h, mask: _mm(h, mask, T, mask), "Padding counted: you divided by T, the padded "
         "length. Divide by the number of real tokens in each row, mask.sum(dim=1)."),
        (lambda h, mask: h.mean(1), "Padding counted: the plain mean over dim=1 averages the "
         "padding too. Multiply by the mask, then divide by the number of real tokens."),
        (lambda h, mask: _mm(h, mask, n_real, mask) * n_real, "That is a sum over the real "
         "tokens, not a mean: divide by mask.sum(dim=1)."),
        (lambda h, mask: _mm(h, mask, T - n_real, ~mask), "The mask is inverted: True marks the "
         "real tokens, so average where mask is True."),
        (lambda h, mask: _mm(h, mask, n_real, ~mask), "The mask is inverted: True marks the real "
         "tokens, so average where mask is True."),
        (lambda h, mask: _mm(h, mask, T, ~mask), "The mask is inverted: True marks the real "
         "tokens, so average where mask is True."),
    ], **tol)


register(Exercise(
    id="10.1", name="masked_mean", make_cases=_masked_mean_cases, call=_masked_mean_call,
    judge=_masked_mean_judge,
    hint="sum of h * mask over dim=1, divided by mask.sum(dim=1) (the real tokens of each row).",
    summary="incl. left padding, scattered masks, single-token rows, float64 and gradients"))


# --------------------------------------------------------------------------- 10.2

def reference_box_iou(a, b):
    """a (N, 4), b (M, 4) boxes (x1, y1, x2, y2) -> (N, M) intersection over union."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])                  # (N,)
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])                  # (M,)
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])               # (N, M, 2)
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])           # (N, M, 2)
    wh = np.clip(bottom_right - top_left, 0, None)                      # (N, M, 2), 0 if apart
    inter = wh[..., 0] * wh[..., 1]                                     # (N, M)
    return inter / (area_a[:, None] + area_b[None, :] - inter)


RASTER = 4          # oracle resolution: box corners lie on a grid of 1/RASTER


def _raster_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU by counting the cells of a 1/RASTER grid that each box covers (exact on that grid)."""
    both = np.concatenate([a, b])
    lo, hi = both.min(), both.max()
    size = int(round((hi - lo) * RASTER))
    centres = lo + (np.arange(size) + 0.5) / RASTER                      # (S,)

    def cover(box):
        inside_x = (centres > box[0]) & (centres < box[2])              # (S,)
        inside_y = (centres > box[1]) & (centres < box[3])
        return inside_y[:, None] & inside_x[None, :]                   # (S, S), rows are y

    ca, cb = [cover(x) for x in a], [cover(x) for x in b]
    out = np.zeros((len(a), len(b)))
    for i, p in enumerate(ca):
        for j, q in enumerate(cb):
            out[i, j] = (p & q).sum() / (p | q).sum()
    return out


def _random_boxes(rng, n, span=12.0, max_size=6.0):
    x1 = rng.integers(0, int(span * RASTER), size=n) / RASTER
    y1 = rng.integers(0, int(span * RASTER), size=n) / RASTER
    w = rng.integers(1, int(max_size * RASTER) + 1, size=n) / RASTER
    h = rng.integers(1, int(max_size * RASTER) + 1, size=n) / RASTER
    return np.stack([x1, y1, x1 + w, y1 + h], axis=1)                  # (n, 4)


def _box_iou_cases(rng: np.random.Generator) -> list[Case]:
    a = np.array([[0, 0, 4, 4], [1, 1, 3, 3], [0, 0, 4, 4], [10, 10, 12, 14]], float)
    b = np.array([[0, 0, 4, 4], [2, 2, 6, 6], [6, 6, 8, 9], [4, 0, 6, 4], [6, 1, 9, 3]], float)
    return [Case("6 random boxes against 5", dict(a=_random_boxes(rng, 6), b=_random_boxes(rng, 5))),
            Case("identical, nested, overlapping, touching and disjoint boxes", dict(a=a, b=b)),
            Case("boxes apart in both x and y (diagonal)",
                 dict(a=np.array([[0, 0, 2, 2], [5, 5, 7, 8]], float),
                      b=np.array([[3, 3, 4, 4], [0, 0, 1, 1], [8, 9, 10, 12]], float))),
            Case("one box against 9, large coordinates",
                 dict(a=_random_boxes(rng, 1, span=200, max_size=60) + 100,
                      b=_random_boxes(rng, 9, span=200, max_size=60) + 100)),
            Case("8 random small boxes against 1", dict(a=_random_boxes(rng, 8, span=6, max_size=3),
                                                         b=_random_boxes(rng, 1, span=6, max_size=3)))]


def _iou_plus_one(a, b):
    return reference_box_iou(np.asarray(a) + [0, 0, 1, 1], np.asarray(b) + [0, 0, 1, 1])


def _iou_variant(a, b, clamp=True, subtract=True, xywh=False):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if xywh:
        a = np.concatenate([a[:, :2], a[:, :2] + a[:, 2:]], 1)
        b = np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], 1)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    wh = np.minimum(a[:, None, 2:], b[None, :, 2:]) - np.maximum(a[:, None, :2], b[None, :, :2])
    if clamp:
        wh = np.clip(wh, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - (inter if subtract else 0)
    return inter / union


def _box_iou_judge(inputs: dict, got) -> None:
    a, b = inputs["a"], inputs["b"]
    ref = _raster_iou(a, b)                                             # the oracle
    hints = [
        (lambda a, b: _iou_variant(a, b, clamp=False), "Boxes that do not overlap have a "
         "negative width or height of intersection: clamp each at 0 (np.clip(..., 0, None)) "
         "before multiplying."),
        (lambda a, b: np.clip(_iou_variant(a, b, clamp=False), 0, None), "Clamp the width and the "
         "height of the intersection at 0 separately: two negatives multiply to a positive area."),
        (_iou_plus_one, "No +1: these are continuous coordinates, so a box's width is x2 - x1 "
         "(the +1 belongs to inclusive integer pixel indices)."),
        (lambda a, b: _iou_variant(a, b, subtract=False), "The union is area_a + area_b − "
         "intersection: the overlap is counted twice otherwise."),
        (lambda a, b: _iou_variant(a, b, xywh=True), "The boxes are corners (x1, y1, x2, y2), not "
         "(x, y, width, height)."),
    ]
    try:
        expect_array(got, ref, "IoU", rtol=1e-9, atol=1e-12)
    except Wrong as w:
        if w.hint is None and isinstance(got, np.ndarray) and got.shape == ref.shape \
                and got.dtype.kind == "f":
            w.hint = mistake_hint(got, dict(a=a, b=b), hints, rtol=1e-9, atol=1e-12)
        if isinstance(got, np.ndarray) and got.shape == ref.shape[::-1] and ref.shape[0] != ref.shape[1]:
            w.hint = "The result is (N, M): one row per box of a, one column per box of b."
        raise


register(Exercise(
    id="10.2", name="box_iou", make_cases=_box_iou_cases, judge=_box_iou_judge,
    hint="intersection = clamp(min(x2) − max(x1), 0) · clamp(min(y2) − max(y1), 0); "
         "union = area_a + area_b − intersection.",
    summary="incl. disjoint, touching, nested and identical boxes, against areas counted on a raster",
    forbidden=("torchvision.ops",)))


# --------------------------------------------------------------------------- 10.3

def reference_nms(boxes, scores, iou_threshold):
    """Greedy non-maximum suppression -> (K,) int64 indices of the kept boxes, best first."""
    order = np.argsort(-np.asarray(scores), kind="stable")              # best first
    keep = []
    while len(order):
        i, order = order[0], order[1:]
        keep.append(i)
        ious = reference_box_iou(boxes[i][None], boxes[order])[0]      # (rest,)
        order = order[ious <= iou_threshold]                           # drop only IoU > t
    return np.array(keep, dtype=np.int64)


def _pair_iou(p, q) -> float:
    """IoU of two boxes, one pair at a time (the oracle's own arithmetic)."""
    w = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
    h = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
    inter = w * h
    return inter / ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter)


def _brute_nms(boxes, scores, t, ge=False, order="score", against="kept"):
    """Greedy NMS written as plainly as possible, and the listed mistakes as options."""
    n = len(scores)
    if order == "score":
        visit = sorted(range(n), key=lambda i: -scores[i])
    else:
        visit = list(range(n))
    keep: list[int] = []
    for i in visit:
        others = keep if against == "kept" else [j for j in visit[:visit.index(i)]]
        if all(not (_pair_iou(boxes[i], boxes[j]) >= t if ge else _pair_iou(boxes[i], boxes[j]) > t)
               for j in others):
            keep.append(i)
    return np.array(keep, dtype=np.int64)


def _clustered(rng, n_clusters, per_cluster, size=8.0):
    """Boxes jittered around a few centres, as a detector proposes them."""
    boxes = []
    for _ in range(n_clusters):
        cx, cy = rng.uniform(0, 40, size=2)
        w, h = rng.uniform(4, size, size=2)
        for _ in range(per_cluster):
            jx, jy, jw, jh = rng.normal(0, 1.2, size=4)
            boxes.append([cx + jx - (w + jw) / 2, cy + jy - (h + jh) / 2,
                          cx + jx + (w + jw) / 2, cy + jy + (h + jh) / 2])
    return np.round(np.array(boxes), 2)


def _nms_cases(rng: np.random.Generator) -> list[Case]:
    b = _clustered(rng, 4, 5)
    s = rng.permutation(len(b)) / len(b) + 0.01                          # distinct scores
    chain = np.array([[0, 0, 10, 10], [3, 0, 13, 10], [6, 0, 16, 10], [30, 30, 34, 34]], float)
    exact = np.array([[0, 0, 4, 4], [0, 0, 4, 2], [10, 10, 12, 12]], float)   # IoU exactly 0.5
    b2 = _clustered(rng, 6, 4, size=10)
    s2 = rng.uniform(0, 1, size=len(b2))
    tie_boxes = np.array([[0, 0, 4, 4], [10, 0, 14, 4], [20, 0, 24, 4], [0.5, 0, 4.5, 4]], float)
    return [
        Case("20 boxes in 4 clusters, threshold 0.5", dict(boxes=b, scores=s, iou_threshold=0.5)),
        Case("a chain: A overlaps B, B overlaps C, A and C apart; scores A > B > C",
             dict(boxes=chain, scores=np.array([0.9, 0.8, 0.7, 0.6]), iou_threshold=0.3)),
        Case("a chain with the scores in a different order than the indices",
             dict(boxes=chain[[2, 0, 3, 1]], scores=np.array([0.7, 0.9, 0.6, 0.8]), iou_threshold=0.3)),
        Case("an IoU exactly equal to the threshold 0.5 (kept: only IoU > t is dropped)",
             dict(boxes=exact, scores=np.array([0.9, 0.8, 0.7]), iou_threshold=0.5)),
        Case("24 boxes in 6 clusters, threshold 0.3", dict(boxes=b2, scores=s2, iou_threshold=0.3)),
        Case("identical scores on boxes that do not overlap, one overlapping box scored lower",
             dict(boxes=tie_boxes, scores=np.array([0.5, 0.5, 0.5, 0.4]), iou_threshold=0.5)),
        Case("a single box", dict(boxes=np.array([[1.0, 2.0, 3.0, 5.0]]), scores=np.array([0.3]),
                                  iou_threshold=0.5)),
        Case("threshold 1.0 keeps every box", dict(boxes=b[:6], scores=s[:6], iou_threshold=1.0)),
    ]


def _nms_judge(inputs: dict, got) -> None:
    boxes, scores, t = inputs["boxes"], inputs["scores"], inputs["iou_threshold"]
    ref = _brute_nms(boxes, scores, t)                                  # the oracle
    if isinstance(got, (list, tuple)) and all(isinstance(x, (int, np.integer)) for x in got):
        raise Wrong(f"returned a {type(got).__name__}; expected an integer NumPy array.",
                    "return np.array(keep, dtype=np.int64)")
    if isinstance(got, TensorData):
        raise Wrong("returned a torch.Tensor; this exercise is NumPy in, NumPy out.")
    if not isinstance(got, np.ndarray):
        raise Wrong(f"returned {describe(got)}, expected an integer NumPy array of indices.",
                    "Did you forget a return statement?")
    if got.ndim == 2 and got.shape[-1] == 4:
        raise Wrong(f"returned an array of shape {got.shape}: boxes, not their indices.",
                    "Return the indices of the kept boxes (into `boxes`), e.g. np.array(keep); "
                    "the caller takes boxes[keep] itself.")
    if got.ndim != 1:
        raise Wrong(f"returned an array of shape {got.shape}, expected a 1-D array of indices.")
    if got.dtype.kind not in "iu":
        raise Wrong(f"returned dtype {got.dtype}, expected integer indices.",
                    "return np.array(keep, dtype=np.int64)")
    if len(set(got.tolist())) != len(got) or (len(got) and (got.min() < 0 or got.max() >= len(boxes))):
        raise Wrong(f"returned {got.tolist()}: indices must be distinct and in 0..{len(boxes) - 1}.")
    same_set = sorted(got.tolist()) == sorted(ref.tolist())
    if same_set and not np.all(np.diff(scores[got]) <= 0):
        raise Wrong(f"kept the right boxes, but in the order {got.tolist()}; expected the highest "
                    "score first.", "Return the kept indices in the order you kept them, visiting "
                    "boxes by decreasing score.")
    if same_set:
        return
    variants = [
        (dict(ge=True), "A box is dropped only when its IoU with a kept box is greater than the "
         "threshold: use >, not ≥."),
        (dict(order="index"), "Visit the boxes by decreasing score (np.argsort(-scores)), not in "
         "the order they come."),
        (dict(against="all"), "Suppress only against the boxes you kept: a box that was itself "
         "suppressed must not suppress others."),
    ]
    hint = next((h for kw, h in variants if sorted(_brute_nms(boxes, scores, t, **kw).tolist())
                 == sorted(got.tolist())), None)
    raise Wrong(f"kept {got.tolist()}, expected {ref.tolist()} (threshold {t}).", hint)


register(Exercise(
    id="10.3", name="nms", make_cases=_nms_cases, judge=_nms_judge,
    hint="Sort by decreasing score; take the best, drop the rest whose IoU with it is > the "
         "threshold; repeat with what is left; return the kept indices.",
    summary="incl. chains of overlaps, an IoU equal to the threshold, tied scores and a single box",
    forbidden=("torchvision.ops",)))


# --------------------------------------------------------------------------- 10.4

def reference_mean_iou(pred, target, n_classes):
    """Mean over the classes present in pred or target of |pred=c ∧ target=c| / |pred=c ∨ target=c|."""
    ious = []
    for c in range(n_classes):
        p, t = pred == c, target == c
        union = np.logical_or(p, t).sum()
        if union:                                          # absent from both: not counted
            ious.append(np.logical_and(p, t).sum() / union)
    return float(np.mean(ious))


def _mean_iou_cases(rng: np.random.Generator) -> list[Case]:
    def noisy(target, n_classes, p):
        pred = target.copy()
        flip = rng.random(target.shape) < p
        pred[flip] = rng.integers(0, n_classes, size=int(flip.sum()))
        return pred

    t1 = rng.integers(0, 5, size=(2, 6, 6))
    t1[t1 == 3] = 0                                       # class 3 absent from target ...
    p1 = noisy(t1, 5, 0.3)
    p1[p1 == 3] = 1                                       # ... and from the prediction
    masks = np.zeros((3, 16, 16), np.int64)               # canvases: mostly background
    for i in range(3):
        for c in rng.choice(np.arange(1, 11), size=2, replace=False):
            y, x = rng.integers(0, 10, size=2)
            masks[i, y:y + 6, x:x + 5] = c
    t3 = rng.integers(0, 4, size=(5, 5))
    p3 = t3.copy()
    p3[0, 0] = 6                                          # a class only in the prediction
    return [Case("5 classes, class 3 in neither map", dict(pred=p1, target=t1, n_classes=5)),
            Case("canvases of background + 10 digits, most digits absent",
                 dict(pred=noisy(masks, 11, 0.2), target=masks, n_classes=11)),
            Case("a class present only in the prediction", dict(pred=p3, target=t3, n_classes=8)),
            Case("a perfect prediction with absent classes", dict(pred=t1, target=t1, n_classes=5)),
            Case("every class present, 3 classes", dict(pred=rng.integers(0, 3, size=40),
                                                        target=rng.integers(0, 3, size=40), n_classes=3))]


def _mean_iou_judge(inputs: dict, got) -> None:
    from sklearn.metrics import confusion_matrix

    pred, target, n = inputs["pred"], inputs["target"], inputs["n_classes"]
    cm = confusion_matrix(target.ravel(), pred.ravel(), labels=np.arange(n))   # the oracle
    inter = np.diag(cm).astype(np.float64)
    union = cm.sum(0) + cm.sum(1) - np.diag(cm)
    present = union > 0
    ref = float(np.mean(inter[present] / union[present]))
    with np.errstate(all="ignore"):
        per_class = inter / union
    got_f = got
    if isinstance(got, np.ndarray) and got.shape == ():
        got_f = got[()]
    if isinstance(got_f, (float, np.floating)) and np.isnan(got_f):
        raise Wrong("returned NaN.", "A class absent from both maps has union 0: 0/0 is NaN. Leave "
                    "such classes out of the mean (only classes present in pred or target count).")
    if isinstance(got, np.ndarray) and got.shape == (n,):
        raise Wrong(f"returned one value per class {got.shape}, expected their mean (a float).")
    try:
        expect_number(got, ref, "mean IoU", rtol=1e-9)
    except Wrong as w:
        value = float(got_f)
        variants = [
            (np.where(present, per_class, 0).mean(), "Classes absent from both maps were counted "
             "as IoU 0: average only over the classes present in pred or target."),
            (np.where(present, per_class, 1).mean(), "Classes absent from both maps were counted "
             "as IoU 1: average only over the classes present in pred or target."),
            ((pred == target).mean(), "That is pixel accuracy, not IoU: for each class, "
             "|pred = c and target = c| / |pred = c or target = c|, then the mean over classes."),
            (float(np.mean(per_class[np.bincount(target.ravel(), minlength=n)[:n] > 0])),
             "Classes that appear only in the prediction count too (their IoU is 0): average over "
             "the classes present in pred or target."),
        ]
        w.hint = next((h for v, h in variants if np.isclose(value, v, rtol=1e-9)), None)
        raise


register(Exercise(
    id="10.4", name="mean_iou", make_cases=_mean_iou_cases, judge=_mean_iou_judge,
    hint="For each class: intersection / union of its pixels in pred and target; average over "
         "the classes whose union is not empty.",
    summary="incl. absent classes, a class only in the prediction and a perfect prediction, "
            "against scikit-learn's confusion matrix",
    forbidden=("sklearn.metrics",)))


# --------------------------------------------------------------------------- 10.5

def reference_discounted_returns(rewards, gamma):
    """G_t = r_t + γ G_{t+1}, from the last step backwards -> (T,) float64."""
    rewards = np.asarray(rewards, dtype=np.float64)
    G = np.zeros(len(rewards))
    running = 0.0
    for t in reversed(range(len(rewards))):
        running = rewards[t] + gamma * running
        G[t] = running
    return G


def _closed_form(rewards, gamma, shift=0, forward=False):
    """G_t = Σ_k γ^(k + shift) r_{t+k} (or, forward, Σ_{k ≤ t} γ^(t − k + shift) r_k)."""
    r = np.asarray(rewards, np.float64)
    T = len(r)
    k = np.arange(T)[None, :] - np.arange(T)[:, None]                  # (T, T): k = j - t
    if forward:
        k = -k
    with np.errstate(divide="ignore"):
        powers = np.where(k >= 0, float(gamma) ** np.maximum(k + shift, 0), 0.0)
    return powers @ r                                                   # (T, T) @ (T,) -> (T,)


def _returns_cases(rng: np.random.Generator) -> list[Case]:
    return [Case("10 random rewards, γ = 0.9", dict(rewards=rng.normal(0, 1, size=10), gamma=0.9)),
            Case("γ = 0: each return is its own reward", dict(rewards=rng.normal(0, 1, size=6), gamma=0.0)),
            Case("γ = 1: the sum of the rewards still to come",
                 dict(rewards=rng.normal(0, 1, size=7), gamma=1.0)),
            Case("integer rewards (an int64 array), γ = 0.5",
                 dict(rewards=rng.integers(-2, 3, size=8), gamma=0.5)),
            Case("a CartPole episode: 200 rewards of 1, γ = 0.99",
                 dict(rewards=np.ones(200), gamma=0.99)),
            Case("a single step", dict(rewards=np.array([2.5]), gamma=0.99))]


def _returns_judge(inputs: dict, got) -> None:
    r, g = inputs["rewards"], inputs["gamma"]
    ref = _closed_form(r, g)                                            # the oracle: Σ_k γ^k r_{t+k}
    hint = None
    if isinstance(got, np.ndarray) and got.shape == ref.shape and got.dtype.kind in "iu":
        raise Wrong(f"returned dtype {got.dtype}, expected float64.",
                    "An integer array truncates the returns: np.zeros_like(rewards) keeps the "
                    "rewards' integer dtype. Start from np.zeros(len(rewards)) (float64).")
    if isinstance(got, np.ndarray) and got.shape == ref.shape and got.dtype.kind == "f" \
            and np.all(np.isfinite(got)) and not np.allclose(got, ref, rtol=1e-9, atol=1e-9):
        hint = mistake_hint(got, dict(rewards=r, gamma=g), [
            (lambda rewards, gamma: _closed_form(rewards, gamma, forward=True),
             "The returns are accumulated from the start: G_t sums the rewards still to come, so "
             "loop backwards from the last step (G_t = r_t + γ G_{t+1})."),
            (lambda rewards, gamma: _closed_form(rewards, gamma, shift=1),
             "γ's exponent is off by one: the current reward is not discounted (γ⁰ r_t)."),
            (lambda rewards, gamma: _closed_form(rewards, gamma, shift=-1),
             "γ's exponent is off by one: the next reward is discounted once, "
             "G_t = r_t + γ r_{t+1} + γ² r_{t+2} + …"),
            (lambda rewards, gamma: _closed_form(rewards, gamma) - np.asarray(rewards, float),
             "G_t includes the reward of step t itself: G_t = r_t + γ G_{t+1}."),
            (lambda rewards, gamma: np.concatenate([_closed_form(rewards, gamma)[1:], [0.0]]),
             "G_t includes the reward of step t itself: G_t = r_t + γ G_{t+1}."),
        ], rtol=1e-9, atol=1e-9)
    try:
        expect_array(got, ref, "returns", rtol=1e-9, atol=1e-9)
    except Wrong as w:
        w.hint = w.hint or hint
        raise


register(Exercise(
    id="10.5", name="discounted_returns", make_cases=_returns_cases, judge=_returns_judge,
    hint="Loop backwards: G = r_t + γ · G, starting from G = 0 after the last step; store each G "
         "in a float64 array.",
    summary="incl. γ = 0, γ = 1, integer rewards, a 200-step episode and a single step"))
