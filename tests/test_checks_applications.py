"""Chapter 10: each check accepts right answers and rejects the listed mistakes with a hint."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course.exercises import applications as ref
from tests.helpers import assert_fails, assert_passes

# Right answers in other styles than the reference: each source defines the exercise's name
# as a learner would in the exercise cell (with the chapter's first-cell imports available).
ALTERNATIVES: dict[str, list[str]] = {
    "masked_mean": [
        '''
def masked_mean(h, mask):
    out = []
    for row, keep in zip(h, mask):           # one sequence at a time
        out.append(row[keep].mean(dim=0))
    return torch.stack(out)
''',
        '''
def masked_mean(h, mask):
    weights = mask.to(h.dtype)
    weights = weights / weights.sum(dim=1, keepdim=True)     # (N, T), rows sum to 1
    return torch.einsum("nt,ntd->nd", weights, h)
''',
        '''
def masked_mean(h, mask):
    summed = torch.where(mask[..., None], h, torch.zeros_like(h)).sum(1)
    return summed / mask.sum(1, keepdim=True)
''',
    ],
    "box_iou": [
        '''
def box_iou(a, b):
    out = np.zeros((len(a), len(b)))
    for i, (ax1, ay1, ax2, ay2) in enumerate(a):
        for j, (bx1, by1, bx2, by2) in enumerate(b):
            w = max(0.0, min(ax2, bx2) - max(ax1, bx1))
            h = max(0.0, min(ay2, by2) - max(ay1, by1))
            inter = w * h
            union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
            out[i, j] = inter / union
    return out
''',
        '''
def box_iou(a, b):
    ax1, ay1, ax2, ay2 = [c[:, None] for c in np.asarray(a, float).T]
    bx1, by1, bx2, by2 = [c[None, :] for c in np.asarray(b, float).T]
    w = (np.minimum(ax2, bx2) - np.maximum(ax1, bx1)).clip(min=0)
    h = (np.minimum(ay2, by2) - np.maximum(ay1, by1)).clip(min=0)
    inter = w * h
    return inter / ((ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter)
''',
    ],
    "nms": [
        '''
def nms(boxes, scores, iou_threshold):
    def iou(p, q):
        w = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
        h = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
        return w * h / ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - w * h)
    keep = []
    for i in sorted(range(len(scores)), key=lambda i: scores[i], reverse=True):
        if all(iou(boxes[i], boxes[j]) <= iou_threshold for j in keep):
            keep.append(i)
    return np.array(keep, dtype=int)
''',
        '''
def nms(boxes, scores, iou_threshold):
    boxes = np.asarray(boxes, dtype=np.float64)
    x1, y1, x2, y2 = boxes.T
    area = (x2 - x1) * (y2 - y1)
    order = np.argsort(scores)[::-1]
    alive = np.ones(len(boxes), dtype=bool)
    keep = []
    for i in order:
        if not alive[i]:
            continue
        keep.append(i)
        w = np.clip(np.minimum(x2[i], x2) - np.maximum(x1[i], x1), 0, None)
        h = np.clip(np.minimum(y2[i], y2) - np.maximum(y1[i], y1), 0, None)
        iou = w * h / (area[i] + area - w * h)
        alive &= ~(iou > iou_threshold)
        alive[i] = False
    return np.asarray(keep, dtype=np.int64)
''',
    ],
    "mean_iou": [
        '''
def mean_iou(pred, target, n_classes):
    p, t = np.ravel(pred), np.ravel(target)
    counts = np.bincount(n_classes * t + p, minlength=n_classes * n_classes)
    cm = counts.reshape(n_classes, n_classes)          # rows: target, columns: prediction
    inter = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - inter
    present = union > 0
    return float((inter[present] / union[present]).mean())
''',
        '''
def mean_iou(pred, target, n_classes):
    ious = {}
    for c in set(np.unique(pred)) | set(np.unique(target)):
        inter = np.sum((pred == c) & (target == c))
        union = np.sum((pred == c) | (target == c))
        ious[c] = inter / union
    return sum(ious.values()) / len(ious)
''',
    ],
    "discounted_returns": [
        '''
def discounted_returns(rewards, gamma):
    T = len(rewards)
    return np.array([sum(gamma ** k * float(rewards[t + k]) for k in range(T - t))
                     for t in range(T)], dtype=np.float64)
''',
        '''
def discounted_returns(rewards, gamma):
    G = np.asarray(rewards, dtype=np.float64).copy()
    for t in range(len(G) - 2, -1, -1):
        G[t] += gamma * G[t + 1]
    return G
''',
        '''
def discounted_returns(rewards, gamma):
    out, running = [], 0.0
    for r in rewards[::-1]:
        running = r + gamma * running
        out.append(running)
    return np.array(out[::-1], dtype=float)
''',
    ],
}

FIRST_CELL = {"np": np, "torch": torch, "nn": nn, "F": F, "math": math}


def _define(name: str, source: str):
    namespace = dict(FIRST_CELL)
    exec(compile(source, f"<alternative {name}>", "exec"), namespace)
    return namespace[name]


@pytest.mark.parametrize("name,index", [(n, i) for n, srcs in ALTERNATIVES.items()
                                        for i in range(len(srcs))])
def test_alternative_passes(name, index):
    assert_passes(name, _define(name, ALTERNATIVES[name][index]))


def test_every_exercise_has_two_alternatives():
    from course.exercise import exercises
    mine = [ex.name for ex in exercises().values() if ex.id.startswith("10.")]
    assert sorted(mine) == sorted(ALTERNATIVES)
    assert all(len(v) >= 2 for v in ALTERNATIVES.values())


# --------------------------------------------------------------------------- 10.1 masked_mean

def test_masked_mean_reference_passes():
    assert_passes("masked_mean", ref.reference_masked_mean)


def test_masked_mean_divides_by_T():
    assert_fails("masked_mean", lambda h, mask: (h * mask[..., None]).sum(1) / h.shape[1],
                 "padding counted", "mask.sum")


def test_masked_mean_plain_mean():
    assert_fails("masked_mean", lambda h, mask: h.mean(1), "padding counted")


def test_masked_mean_inverted_mask():
    def inverted(h, mask):
        m = (~mask)[..., None].to(h.dtype)
        return (h * m).sum(1) / m.sum(1)
    assert_fails("masked_mean", inverted, "inverted")

    def inverted_count(h, mask):      # sums the padding, divides by the real tokens
        return (h * (~mask)[..., None]).sum(1) / mask.sum(1, keepdim=True)
    assert_fails("masked_mean", inverted_count, "inverted")


def test_masked_mean_sum_instead_of_mean():
    assert_fails("masked_mean", lambda h, mask: (h * mask[..., None]).sum(1), "sum", "not a mean")


def test_masked_mean_numpy_and_detached():
    def numpy_out(h, mask):
        return ref.reference_masked_mean(h, mask).detach().numpy()
    assert_fails("masked_mean", numpy_out, "torch in, torch out")

    def detached(h, mask):
        return ref.reference_masked_mean(h.detach(), mask)
    assert_fails("masked_mean", detached, "not connected")


def test_masked_mean_wrong_dtype_and_shape():
    assert_fails("masked_mean", lambda h, mask: ref.reference_masked_mean(h, mask).float(), "dtype")
    assert_fails("masked_mean", lambda h, mask: ref.reference_masked_mean(h, mask).sum(-1), "shape")


def test_masked_mean_in_place():
    def in_place(h, mask):
        h.data.mul_(mask[..., None])
        return h.sum(1) / mask.sum(1, keepdim=True)
    assert_fails("masked_mean", in_place, "in place")


# --------------------------------------------------------------------------- 10.2 box_iou

def test_box_iou_reference_passes():
    assert_passes("box_iou", ref.reference_box_iou)


def test_box_iou_no_clamp():
    assert_fails("box_iou", lambda a, b: ref._iou_variant(a, b, clamp=False), "clamp")


def test_box_iou_clamp_after_multiplying():
    assert_fails("box_iou", lambda a, b: np.clip(ref._iou_variant(a, b, clamp=False), 0, None),
                 "clamp", "separately")


def test_box_iou_plus_one():
    assert_fails("box_iou", ref._iou_plus_one, "+1")


def test_box_iou_union_without_subtracting():
    assert_fails("box_iou", lambda a, b: ref._iou_variant(a, b, subtract=False), "counted twice")


def test_box_iou_xywh():
    assert_fails("box_iou", lambda a, b: ref._iou_variant(a, b, xywh=True), "corners")


def test_box_iou_transposed_and_types():
    assert_fails("box_iou", lambda a, b: ref.reference_box_iou(b, a), "(N, M)")
    assert_fails("box_iou", lambda a, b: ref.reference_box_iou(a, b).tolist(), "list")
    assert_fails("box_iou", lambda a, b: torch.tensor(ref.reference_box_iou(a, b)), "NumPy")


def test_box_iou_may_not_use_torchvision():
    # torchvision is not installed; the static source check still refuses it
    from course.exercise import exercises, forbidden_in_source
    forbidden = exercises()["box_iou"].forbidden
    for source in ("from torchvision.ops import box_iou\n", "import torchvision\ntorchvision.ops.box_iou(a, b)\n"):
        assert forbidden_in_source(source, forbidden) == ["torchvision.ops"]


# --------------------------------------------------------------------------- 10.3 nms

def test_nms_reference_passes():
    assert_passes("nms", ref.reference_nms)


def test_nms_greater_or_equal():
    assert_fails("nms", lambda boxes, scores, iou_threshold:
                 ref._brute_nms(boxes, scores, iou_threshold, ge=True), "greater than", "not ≥")


def test_nms_index_order():
    def in_index_order(boxes, scores, iou_threshold):
        return ref._brute_nms(boxes, scores, iou_threshold, order="index")
    assert_fails("nms", in_index_order, "decreasing score")


def test_nms_suppress_against_every_box():
    def against_all(boxes, scores, iou_threshold):
        return ref._brute_nms(boxes, scores, iou_threshold, against="all")
    assert_fails("nms", against_all, "only against the boxes you kept")


def test_nms_returns_boxes():
    assert_fails("nms", lambda boxes, scores, iou_threshold:
                 boxes[ref.reference_nms(boxes, scores, iou_threshold)], "indices")


def test_nms_order_of_the_result():
    assert_fails("nms", lambda boxes, scores, iou_threshold:
                 np.sort(ref.reference_nms(boxes, scores, iou_threshold)), "highest score first")


def test_nms_list_and_float_dtype():
    assert_fails("nms", lambda boxes, scores, iou_threshold:
                 ref.reference_nms(boxes, scores, iou_threshold).tolist(), "np.array(keep")
    assert_fails("nms", lambda boxes, scores, iou_threshold:
                 ref.reference_nms(boxes, scores, iou_threshold).astype(float), "integer")


# --------------------------------------------------------------------------- 10.4 mean_iou

def _per_class(pred, target, n):
    out = []
    for c in range(n):
        p, t = pred == c, target == c
        u = (p | t).sum()
        out.append((p & t).sum() / u if u else np.nan)
    return np.array(out)


def test_mean_iou_reference_passes():
    assert_passes("mean_iou", ref.reference_mean_iou)


def test_mean_iou_absent_as_zero():
    assert_fails("mean_iou", lambda pred, target, n_classes:
                 float(np.nan_to_num(_per_class(pred, target, n_classes), nan=0.0).mean()),
                 "absent", "IoU 0")


def test_mean_iou_absent_as_one():
    assert_fails("mean_iou", lambda pred, target, n_classes:
                 float(np.nan_to_num(_per_class(pred, target, n_classes), nan=1.0).mean()),
                 "absent", "IoU 1")


def test_mean_iou_absent_as_nan():
    with np.errstate(all="ignore"):
        assert_fails("mean_iou", lambda pred, target, n_classes:
                     float(_per_class(pred, target, n_classes).mean()), "NaN", "union 0")


def test_mean_iou_pixel_accuracy():
    assert_fails("mean_iou", lambda pred, target, n_classes: float((pred == target).mean()),
                 "pixel accuracy")


def test_mean_iou_classes_of_the_target_only():
    def target_only(pred, target, n_classes):
        per = _per_class(pred, target, n_classes)
        return float(np.mean([per[c] for c in np.unique(target)]))
    assert_fails("mean_iou", target_only, "only in the prediction")


def test_mean_iou_per_class_array():
    assert_fails("mean_iou", lambda pred, target, n_classes:
                 np.nan_to_num(_per_class(pred, target, n_classes)), "one value per class")


# --------------------------------------------------------------------------- 10.5 discounted_returns

def test_returns_reference_passes():
    assert_passes("discounted_returns", ref.reference_discounted_returns)


def test_returns_from_the_start():
    def forward(rewards, gamma):
        G, running = np.zeros(len(rewards)), 0.0
        for t in range(len(rewards)):
            running = rewards[t] + gamma * running
            G[t] = running
        return G
    assert_fails("discounted_returns", forward, "from the start", "backwards")


def test_returns_exponent_off_by_one():
    def discounted_once_more(rewards, gamma):
        G, running = np.zeros(len(rewards)), 0.0
        for t in reversed(range(len(rewards))):
            running = gamma * (rewards[t] + running)
            G[t] = running
        return G
    assert_fails("discounted_returns", discounted_once_more, "off by one")

    def next_reward_undiscounted(rewards, gamma):
        G = ref.reference_discounted_returns(rewards, gamma)
        return np.concatenate([G[:-1] + (1 - gamma) * G[1:], G[-1:]]) if len(G) > 1 else G
    assert_fails("discounted_returns", next_reward_undiscounted, "off by one")


def test_returns_stored_before_adding_the_reward():
    def shifted(rewards, gamma):
        G, running = np.zeros(len(rewards)), 0.0
        for t in reversed(range(len(rewards))):
            G[t] = running
            running = rewards[t] + gamma * running
        return G
    assert_fails("discounted_returns", shifted, "reward of step t")


def test_returns_integer_array():
    def zeros_like(rewards, gamma):
        G, running = np.zeros_like(rewards), 0.0
        for t in reversed(range(len(rewards))):
            running = rewards[t] + gamma * running
            G[t] = running
        return G
    assert_fails("discounted_returns", zeros_like, "integer", "zeros_like")


def test_returns_float32_and_list():
    assert_fails("discounted_returns", lambda rewards, gamma:
                 ref.reference_discounted_returns(rewards, gamma).astype(np.float32), "float64")
    assert_fails("discounted_returns", lambda rewards, gamma:
                 ref.reference_discounted_returns(rewards, gamma).tolist(), "list")
