"""course.canvases: digit canvases with boxes, labels and per-pixel masks, fixed by seed."""
import numpy as np

from course.canvases import INK, N_CLASSES, make_canvases


def test_boxes_masks_and_images_agree():
    c = make_canvases(60, "train", seed=3)
    assert c.images.shape == (60, 1, 32, 32) and c.masks.shape == (60, 32, 32)
    assert c.images.dtype == np.float32 and c.masks.dtype == np.int64
    assert c.masks.max() < N_CLASSES
    assert np.array_equal(c.masks > 0, c.images[:, 0] >= INK)         # ink <=> a digit class
    for mask, boxes, labels in zip(c.masks, c.boxes, c.labels):
        assert 1 <= len(boxes) <= 3 and boxes.shape == (len(labels), 4)
        covered = np.zeros_like(mask, dtype=bool)
        for (x1, y1, x2, y2), label in zip(boxes.astype(int), labels):
            inside = mask[y1:y2, x1:x2]
            assert set(np.unique(inside)) <= {0, 1 + label}            # the digit's class only
            for edge in (inside[0], inside[-1], inside[:, 0], inside[:, -1]):
                assert (edge == 1 + label).any()                       # the box is tight
            covered[y1:y2, x1:x2] = True
        assert not (mask[~covered] > 0).any()                          # no ink outside the boxes


def test_fixed_by_seed_and_split():
    a, b = make_canvases(5, "test", seed=1), make_canvases(5, "test", seed=1)
    assert np.array_equal(a.images, b.images) and all(np.array_equal(x, y) for x, y in zip(a.boxes, b.boxes))
    assert not np.array_equal(a.images, make_canvases(5, "train", seed=1).images)
    big = make_canvases(3, size=48, seed=0)
    assert big.images.shape == (3, 1, 48, 48)
