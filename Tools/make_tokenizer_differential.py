#!/usr/bin/env python3
"""Differential tokenizer fixtures against transformers 5 (issue #23): our CLIP and T5 tokenizers must
give the ids transformers gives, string by string.

  /work/venv/bin/pip install transformers tokenizers sentencepiece protobuf unicodedata2==17.0.1
  /work/venv/bin/python Tools/make_tokenizer_differential.py

unicodedata2 17 supplies the Unicode 17 data (Swift 6.3's version; Python 3.11's own is 14) used to
enumerate combining marks, compositions, scripts and whitespace. Reads the fixtures of
Tools/make_tokenizer_fixtures.py and writes (under Tests/ModelsTests/Fixtures/):

  t5-tokenizer-v1_1/       tokenizer.json + tokenizer_config.json in the layout of google/t5-v1_1-xxl as
                           FLUX.1-dev (tokenizer_2/) and ComfyUI (comfy/text_encoders/t5_tokenizer/) ship
                           it (normalizer Precompiled + Strip + Replace(" {2,}" -> U+2581), pre-tokenizer
                           Metaspace with prepend_scheme "first", extra ids in the vocabulary), over our
                           5,000-piece model. transformers 5's T5Tokenizer does not run that pipeline: it
                           rebuilds the tokenizer from the vocabulary and the Precompiled charsmap
                           (models/t5/tokenization_t5.py), so its ids equal those of the other layouts;
                           the script asserts that.
  tokenizer-differential.json
     strings      ~3,200 strings: special tokens inside text, every Unicode whitespace, every
                  canonical combining class, a sample of every script (letter name prefix), random mixes
     clip         transformers.CLIPTokenizer ids (BOS ... EOS, untruncated)
     t5           transformers.T5Tokenizer ids (... EOS); the same for t5-tokenizer/tokenizer.json,
                  t5-tokenizer-v1_1/tokenizer.json and a folder holding only spiece.model (asserted)
  tokenizer-combining-marks.json
     marks        every code point whose canonical combining class is nonzero in Unicode 17 (a superset
                  of the Unicode 9 set that HF's NFC tables hold: combining classes never change)
     contexts     [prefix, suffix] pairs; each mark m is tokenized as prefix + m + suffix
     clip, t5     ids per mark, per context
     compositions the canonical decomposition of every primary composite of Unicode 17 (code points)
     clip_compositions, t5_compositions   their ids
It prints how many strings the literal reading of the v1_1 file (tokenizers.Tokenizer.from_file)
would get wrong, i.e. what ignoring transformers' rebuild costs.
"""
import json, os, random, shutil, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import tokenizer_corpus as tc

FIX = os.path.join(HERE, "..", "Tests", "ModelsTests", "Fixtures")

SPECIALS = ["</s>", "<pad>", "<unk>", "<extra_id_0>", "<extra_id_99>", "<extra_id_17>", "<|endoftext|>",
            "<|startoftext|>", "<s>", "<mask>", "<extra_id_100>", "</S>", "< /s>", "</s", "<extra_id_0"]
SPECIAL_CONTEXTS = ["{}dog", "dog{}", "a {} b", "{}{}", " {}", "{} ", "x{}\u0085y", "{}\u3000cat", "{}\u2581dog",
                    "{}Dog", "{},", "a{}b{}c", "\t{}\n", "{}一只猫", "{}\u0301e", "é{}é"]
EXTRA_SPACES = [0x1C, 0x1D, 0x1E, 0x1F, 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x180E, 0x00AD, 0x2800, 0x3164]
SPACE_CONTEXTS = ["a{}b", "{}a", "a{}", "a{}{}b", "</s>{}dog", "a {} b", "{}", "猫{}狗", "x{}\u0301y"]
MARK_CONTEXTS = ["o{}", "O{}", "e{}\u0301", "{}x", "a{}{}b", "</s>{}", "한{}", "{} {}"]
MARK_FIXTURE_CONTEXTS = [["o\u030a", ""], ["o", "\u0316"], ["e", "\u0301"], ["a", "\u0334"]]


def ud():
    import unicodedata2
    assert unicodedata2.unidata_version.startswith("17."), unicodedata2.unidata_version
    return unicodedata2


def scalars():
    return (c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)


def combining_marks(u):
    return [c for c in scalars() if u.combining(chr(c))]


def compositions(u):
    """Canonical decompositions (as code point lists) of every primary composite (not Hangul)."""
    out = []
    for c in scalars():
        d = u.decomposition(chr(c))
        if not d or d.startswith("<"):
            continue
        nfd = u.normalize("NFD", chr(c))
        if u.normalize("NFC", nfd) == chr(c):
            out.append([ord(x) for x in nfd])
    return out


def whitespace(u):
    ws = [c for c in scalars() if chr(c).isspace() or u.category(chr(c)) in ("Zs", "Zl", "Zp")]
    return sorted(set(ws + EXTRA_SPACES))


def script_samples(u, r):
    """Per name prefix ("LATIN", "CYRILLIC", "CJK", "ADLAM", ...) of letters, numbers and marks, a
    few words built from evenly spaced members."""
    groups = {}
    for c in scalars():
        cat = u.category(chr(c))
        if cat[0] not in "LNM":
            continue
        name = u.name(chr(c), "")
        if not name:
            continue
        groups.setdefault(name.split(" ")[0].split("-")[0], {}).setdefault(cat[0], []).append(c)
    out = []
    for key in sorted(groups):
        g = groups[key]
        letters = g.get("L", [])
        digits = g.get("N", [])
        marks = g.get("M", [])
        if letters:
            step = max(1, len(letters) // 12)
            pick = [chr(c) for c in letters[::step][:12]]
            out.append("".join(pick[:6]))
            out.append(" ".join(["".join(pick[i:i + 3]) for i in range(0, len(pick), 3)]))
            if marks:
                m = [chr(x) for x in marks[::max(1, len(marks) // 4)][:4]]
                out.append("".join(a + b for a, b in zip(pick, m)) + " " + pick[-1] + "".join(m))
        if digits:
            out.append("".join(chr(c) for c in digits[:10]) + " " + (chr(letters[0]) if letters else "x"))
        if not letters and not digits and marks:
            out.append("a" + "".join(chr(x) for x in marks[:3]) + " b" + chr(marks[-1]))
    return out


def class_samples(u, marks):
    by_class = {}
    for c in marks:
        by_class.setdefault(u.combining(chr(c)), []).append(c)
    out = []
    for ccc in sorted(by_class):
        cs = by_class[ccc]
        for c in sorted({cs[0], cs[len(cs) // 2], cs[-1]}):
            out.extend(ctx.format(chr(c), chr(c)) for ctx in MARK_CONTEXTS)
    return out


def random_mixes(u, r, n, marks, ws):
    pools = [tc.SUBJECTS, tc.ADJS, tc.STYLES, tc.ZH, tc.JA, tc.KO, tc.OTHER, tc.EMOJI, tc.ACCENTS, tc.PUNCT,
             tc.NUMBERS, tc.CONTRACTIONS, SPECIALS, [chr(c) for c in marks], [chr(c) for c in ws]]
    out = []
    for _ in range(n):
        parts = []
        for _ in range(r.randint(1, 6)):
            parts.append(r.choice(r.choice(pools)))
            parts.append(r.choice([" ", " ", ", ", "", chr(r.choice(ws)), r.choice(SPECIALS)]))
        s = "".join(parts)
        if r.random() < 0.2:
            s = s.upper()
        out.append(s)
    return out


def make_strings(u):
    r = random.Random(23)
    marks = combining_marks(u)
    ws = whitespace(u)
    strings = []
    for s in SPECIALS:
        strings.extend(ctx.format(s, s) for ctx in SPECIAL_CONTEXTS)
    for c in ws:
        strings.extend(ctx.format(chr(c), chr(c)) for ctx in SPACE_CONTEXTS)
    strings.extend(class_samples(u, marks))
    strings.extend(script_samples(u, r))
    strings.extend(random_mixes(u, r, 3200 - len(strings), marks, ws))
    seen, out = set(), []
    for s in strings:
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def write_v1_1_layout(out_dir):
    """The FLUX.1-dev / ComfyUI tokenizer.json layout around our model's vocabulary and charsmap."""
    base = json.load(open(os.path.join(FIX, "t5-tokenizer", "tokenizer.json"), encoding="utf-8"))
    precompiled = base["normalizer"]
    assert precompiled["type"] == "Precompiled"
    doc = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": base["added_tokens"],
        "normalizer": {"type": "Sequence", "normalizers": [
            precompiled,
            {"type": "Strip", "strip_left": False, "strip_right": True},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": "\u2581"}]},
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True,
                          "prepend_scheme": "first"},
        "post_processor": base["post_processor"],
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True,
                    "prepend_scheme": "always"},
        "model": {"type": "Unigram", "unk_id": 2, "vocab": base["model"]["vocab"], "byte_fallback": False},
    }
    added = {str(t["id"]): {k: t[k] for k in ("content", "lstrip", "normalized", "rstrip", "single_word", "special")}
             for t in base["added_tokens"]}
    n = len([t for t in base["added_tokens"] if t["content"].startswith("<extra_id_")])
    config = {"added_tokens_decoder": added,
              "additional_special_tokens": [f"<extra_id_{i}>" for i in range(n)],
              "clean_up_tokenization_spaces": True, "eos_token": "</s>", "extra_ids": n, "legacy": False,
              "model_max_length": 512, "pad_token": "<pad>", "sp_model_kwargs": {},
              "tokenizer_class": "T5Tokenizer", "unk_token": "<unk>"}
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=1)


def dump_rows(path, obj):
    """One JSON object, one row per line for the lists (small diffs, readable)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("{\n")
        keys = list(obj)
        for k in keys:
            v = obj[k]
            end = "," if k != keys[-1] else ""
            if isinstance(v, list) and v and isinstance(v[0], (list, str)):
                f.write(json.dumps(k) + ": [\n")
                f.write(",\n".join(json.dumps(x, ensure_ascii=False, separators=(",", ":")) for x in v))
                f.write("\n]" + end + "\n")
            else:
                f.write(json.dumps(k) + ": " + json.dumps(v, ensure_ascii=False, separators=(",", ":")) + end + "\n")
        f.write("}\n")
    print("wrote", path, os.path.getsize(path), "bytes")


def main():
    u = ud()
    import sentencepiece as spm
    import transformers
    from tokenizers import Tokenizer
    from transformers import CLIPTokenizer, T5Tokenizer
    assert transformers.__version__.startswith("5."), f"the parity target is transformers 5, not {transformers.__version__}"

    v11 = os.path.join(FIX, "t5-tokenizer-v1_1")
    write_v1_1_layout(v11)
    clip = CLIPTokenizer.from_pretrained(os.path.join(FIX, "clip-tokenizer"))
    t5 = T5Tokenizer.from_pretrained(os.path.join(FIX, "t5-tokenizer"))
    t5_v11 = T5Tokenizer.from_pretrained(v11)
    literal_v11 = Tokenizer.from_file(os.path.join(v11, "tokenizer.json"))
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(os.path.join(FIX, "t5-tokenizer", "spiece.model"), d)
        t5_spiece = T5Tokenizer.from_pretrained(d)
    sp = spm.SentencePieceProcessor(model_file=os.path.join(FIX, "t5-tokenizer", "spiece.model"))

    def t5_ids(batch):
        ids = [t5(s).input_ids for s in batch]
        for name, other in [("t5-v1_1 layout", t5_v11), ("spiece.model", t5_spiece)]:
            got = [other(s).input_ids for s in batch]
            bad = [i for i, (a, b) in enumerate(zip(ids, got)) if a != b]
            assert not bad, f"{name} differs from tokenizer.json on {len(bad)}: {batch[bad[0]]!r}"
        return ids

    strings = make_strings(u)
    clip_ids = [clip(s).input_ids for s in strings]
    t5_all = t5_ids(strings)
    spm_ids = [sp.encode(s) + [1] for s in strings]
    literal = [literal_v11.encode(s).ids for s in strings]
    print(f"{len(strings)} strings; the literal v1_1 pipeline differs from transformers on "
          f"{sum(a != b for a, b in zip(literal, t5_all))}; sentencepiece differs on "
          f"{sum(a != b for a, b in zip(spm_ids, t5_all))}")
    dump_rows(os.path.join(FIX, "tokenizer-differential.json"), {"strings": strings, "clip": clip_ids, "t5": t5_all})

    marks = combining_marks(u)
    comps = compositions(u)
    mark_strings = [[p + chr(m) + s for p, s in MARK_FIXTURE_CONTEXTS] for m in marks]
    comp_strings = ["".join(chr(c) for c in cs) for cs in comps]
    flat = [s for row in mark_strings for s in row]
    clip_flat = [clip(s).input_ids for s in flat]
    t5_flat = t5_ids(flat)
    k = len(MARK_FIXTURE_CONTEXTS)
    dump_rows(os.path.join(FIX, "tokenizer-combining-marks.json"), {
        "unicode": u.unidata_version, "contexts": MARK_FIXTURE_CONTEXTS, "marks": marks,
        "clip": [clip_flat[i:i + k] for i in range(0, len(flat), k)],
        "t5": [t5_flat[i:i + k] for i in range(0, len(flat), k)],
        "compositions": comps,
        "clip_compositions": [clip(s).input_ids for s in comp_strings],
        "t5_compositions": t5_ids(comp_strings)})


if __name__ == "__main__":
    main()
