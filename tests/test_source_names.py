"""What names in a cell resolve to (course.source_names), and the grader's replay of the
course's setup (course.grade.setup_before_exercises): issue 18, causes 1, 3 and 4."""
from collections import namedtuple

import nbformat
import pytest
import torch

from course.exercise import roundtrip, watch_calls
from course.grade import GRADER_MODULES, grader_modules_used, setup_before_exercises
from course.source_names import names_used
from tests.helpers import ROOT

SDPA = "torch.nn.functional.scaled_dot_product_attention"
OWN_METHOD = '''
class MultiHeadAttention(nn.Module):
    def scaled_dot_product_attention(self, q, k, v):
        return torch.softmax(q @ k.transpose(-1, -2), -1) @ v

    def forward(self, x):
        return self.scaled_dot_product_attention(x, x, x)
'''


@pytest.mark.parametrize("source, imports, hit", [
    ("y = F.scaled_dot_product_attention(q, k, v)", {"F": "torch.nn.functional"}, "F.scaled_dot_product_attention"),
    ("import torch.nn.functional as G\ny = G.scaled_dot_product_attention(q, k, v)", {}, "G.scaled_dot_product_attention"),
    ("from torch.nn.functional import scaled_dot_product_attention as a\n", {},
     "from torch.nn.functional import scaled_dot_product_attention"),
    ("y = torch.nn.functional.scaled_dot_product_attention(q, k, v)", {"torch": "torch"},
     "torch.nn.functional.scaled_dot_product_attention"),
    (OWN_METHOD, {"torch": "torch", "nn": "torch.nn", "F": "torch.nn.functional"}, None),
    ("def scaled_dot_product_attention(q, k, v):\n    return q\ny = scaled_dot_product_attention(1, 2, 3)",
     {}, None),
])
def test_forbidden_names_are_those_that_resolve_to_the_op(source, imports, hit):
    found = names_used(source, (SDPA,), imports)
    assert found == ({SDPA: hit} if hit else {}), found


def test_an_alias_of_the_op_is_the_op():
    assert names_used("y = torch.conv2d(x, w)", ("torch.nn.functional.conv2d",), {"torch": "torch"})
    assert names_used("y = conv(x, w)", ("torch.nn.functional.conv2d",),
                      namespace={"conv": torch.nn.functional.conv2d})


def test_a_forbidden_module_covers_everything_in_it():
    assert names_used("t = torch.tensor(x)", ("torch",), {"torch": "torch"})
    assert names_used("import torch.nn.functional", ("torch",))
    assert names_used("w = nn.init.xavier_uniform_(w)", ("torch.nn.init",), {"nn": "torch.nn"})
    assert not names_used("adam = 0.9\ny = adam * 2", ("torch.optim.adam",), {})


@pytest.mark.parametrize("source, imports, reached", [
    ("check = np.sort(x)\ny = check.sum()", {"check": "course.check"}, {}),
    ("check.kfold_indices(kfold_indices)", {"check": "course.check"}, {}),
    ("from course import check, progress", {}, {}),
    ("y = reference.reference_kfold_indices(10, 2)", {"reference": "course.exercises.training"},
     {"course.exercises": "reference.reference_kfold_indices"}),
    ("import course.exercise", {}, {"course.exercise": "import course.exercise"}),
    ("import course\ncourse.exercise.judge_case = None", {}, {"course.exercise": "course.exercise.judge_case"}),
    ("e = check.exercises()", {"check": "course.check"}, {"course.exercise": "check.exercises"}),
    ("g = __import__('course').grade", {}, {"course.grade": "import of 'course'.grade"}),
    ("import importlib\ng = importlib.import_module('course.grade')", {}, {"course.grade": "import of 'course.grade'"}),
])
def test_grader_modules_are_found_by_what_names_reach(source, imports, reached):
    assert grader_modules_used(source, imports) == reached
    assert "course.check" not in GRADER_MODULES


def test_tensor_methods_of_a_forbidden_op_are_watched_and_restored():
    original = torch.Tensor.log_softmax
    with watch_calls(("torch.log_softmax",)) as used:
        torch.zeros(3).log_softmax(0)
        torch.zeros(3).unfold(0, 2, 1)            # another op that only shares a name: not watched
    assert used == ["torch.log_softmax"]
    assert torch.Tensor.log_softmax is original and "log_softmax" not in torch.Tensor.__dict__


def test_a_forbidden_package_that_is_not_installed_is_no_error():
    with watch_calls(("a_package_nobody_installed", "a_package_nobody_installed.ops.nms")) as used:
        torch.zeros(3).sum()
    assert used == []


def test_subclasses_of_tuple_list_and_dict_are_plain_data():
    Fold = namedtuple("Fold", "train val")

    class Row(list):
        pass

    assert roundtrip(Fold([1, 2], [3])) == ([1, 2], [3])
    assert roundtrip(Row([1.5])) == [1.5]
    assert roundtrip(torch.Size([2, 3])) == (2, 3)


def test_setup_replays_definitions_from_the_course_never_calls():
    skeleton = nbformat.read(ROOT / "chapters" / "04_rnn.ipynb", as_version=4)
    setup = setup_before_exercises(skeleton)
    first = "\n".join(setup["rnn_step"].statements)
    assert "import torch.nn.functional as F" in first and "import numpy as np" in first
    assert "course.exercises" not in first                    # the references stay out
    assert "get_device()" not in first                        # a call: never replayed
    assert setup["rnn_step"].imports["reference"] == "course.exercises.rnn"
    with_references = setup_before_exercises(skeleton, include_grader_imports=True)
    assert any("course.exercises" in s for s in with_references["rnn_step"].statements)
    every = [s for v in setup.values() for s in v.statements]
    assert not any(s.split("=")[0].strip() in ("rnn_step", "sample") for s in every)


def test_first_cell_calls_are_replayed_only_for_names_the_answers_read():
    """`device = get_device()` in the first cell: replayed when an answer uses `device`."""
    skeleton = nbformat.read(ROOT / "chapters" / "05_attention.ipynb", as_version=4)
    first = "scaled_dot_product_attention"
    assert "device = get_device()" not in setup_before_exercises(skeleton)[first].statements
    assert "device = get_device()" in setup_before_exercises(skeleton, uses={"device"})[first].statements
    later = [s for name, v in setup_before_exercises(skeleton, uses={"gpt", "translator"}).items()
             for s in v.statements]
    assert not any(s.startswith(("gpt =", "translator =")) for s in later)   # not the first cell
