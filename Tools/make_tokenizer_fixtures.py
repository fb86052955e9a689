#!/usr/bin/env python3
"""Make the tokenizer fixtures used by Tests/ModelsTests/{CLIP,T5}TokenizerTests.swift.

  /work/venv/bin/python Tools/make_tokenizer_fixtures.py

Writes (under Tests/ModelsTests/Fixtures/):
  clip-tokenizer/          vocab.json, merges.txt, tokenizer_config.json  (Tools/make_clip_tokenizer_files.py)
  t5-tokenizer/            spiece.model (unigram, nmt_nfkc, trained here, Chinese included), tokenizer.json
                           and tokenizer_config.json as transformers saves them
  t5-tokenizer-bytefallback/spiece.model (small unigram model with byte_fallback=true)
  tokenizer-corpus.json    the prompts and the reference ids:
     clip            transformers.CLIPTokenizer (5.x, tokenizers backend) ids, no truncation, BOS/EOS included
     t5              transformers.T5Tokenizer from spiece.model, ids with EOS, no truncation
     t5_spm_diff     sentencepiece.SentencePieceProcessor ids + [EOS], only for prompts where they differ
                     from t5 (keyed by prompt index)
     t5_bytefallback sentencepiece ids (+EOS) with the byte-fallback model
The script asserts the padding/truncation conventions it relies on (pad to 77/512 with the pad id,
truncation keeps EOS last) against transformers before writing.
"""
import json, os, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import tokenizer_corpus

FIX = os.path.join(HERE, "..", "Tests", "ModelsTests", "Fixtures")


def train_spm(out_dir, vocab_size, byte_fallback, seed_text, coverage):
    import sentencepiece as spm
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        f.write("\n".join(seed_text))
        path = f.name
    prefix = os.path.join(out_dir, "spiece")
    # T5's settings: unigram, nmt_nfkc, pad 0, eos 1, unk 2, no bos, dummy prefix, remove extra whitespace.
    spm.SentencePieceTrainer.train(
        input=path, model_prefix=prefix, model_type="unigram", vocab_size=vocab_size,
        character_coverage=coverage, normalization_rule_name="nmt_nfkc", pad_id=0, eos_id=1, unk_id=2,
        bos_id=-1, byte_fallback=byte_fallback, num_threads=2, input_sentence_size=100000,
        shuffle_input_sentence=False, minloglevel=2)
    os.remove(path)
    os.remove(prefix + ".vocab")
    return prefix + ".model"


def main():
    subprocess.check_call([sys.executable, os.path.join(HERE, "make_clip_tokenizer_files.py"),
                           os.path.join(FIX, "clip-tokenizer")])
    import sentencepiece as spm
    from transformers import CLIPTokenizer, T5Tokenizer

    text = tokenizer_corpus.training_text()
    t5_dir = os.path.join(FIX, "t5-tokenizer")
    model = train_spm(t5_dir, 5000, False, text, 0.9995)
    bf_dir = os.path.join(FIX, "t5-tokenizer-bytefallback")
    bf_model = train_spm(bf_dir, 1500, True, text[:8000], 0.98)

    # transformers' T5 tokenizer from spiece.model; save its tokenizer.json next to it.
    t5 = T5Tokenizer.from_pretrained(t5_dir)
    with tempfile.TemporaryDirectory() as d:
        t5.save_pretrained(d)
        for name in ["tokenizer.json", "tokenizer_config.json"]:
            os.replace(os.path.join(d, name), os.path.join(t5_dir, name))
    t5_json = T5Tokenizer.from_pretrained(t5_dir)  # now loads from tokenizer.json
    clip = CLIPTokenizer.from_pretrained(os.path.join(FIX, "clip-tokenizer"))
    sp = spm.SentencePieceProcessor(model_file=model)
    sp_bf = spm.SentencePieceProcessor(model_file=bf_model)

    prompts = tokenizer_corpus.make_corpus()
    clip_ids = [clip(p).input_ids for p in prompts]
    t5_ids = [t5(p).input_ids for p in prompts]
    t5_json_ids = [t5_json(p).input_ids for p in prompts]
    assert t5_ids == t5_json_ids, "T5 from spiece.model and from tokenizer.json disagree"
    spm_ids = [sp.encode(p) + [1] for p in prompts]
    bf_ids = [sp_bf.encode(p) + [1] for p in prompts]

    # Conventions: padding and truncation as diffusers calls the tokenizers.
    for p, ids in zip(prompts, clip_ids):
        got = clip(p, padding="max_length", max_length=77, truncation=True).input_ids
        want = (ids[:76] + [49407]) if len(ids) > 77 else ids + [49407] * (77 - len(ids))
        assert got == want, p
    for p, ids in zip(prompts, t5_ids):
        for n in (256, 512):
            got = t5(p, padding="max_length", max_length=n, truncation=True).input_ids
            want = (ids[:n - 1] + [1]) if len(ids) > n else ids + [0] * (n - len(ids))
            assert got == want, p

    diff = [i for i, (a, b) in enumerate(zip(t5_ids, spm_ids)) if a != b]
    print(f"{len(prompts)} prompts; T5 HF vs sentencepiece differ on {len(diff)}")
    for i in diff[:40]:
        print(repr(prompts[i])[:80], t5_ids[i][:20], spm_ids[i][:20])

    # Speed of the references (single-prompt calls, as a pipeline makes them).
    t0 = time.perf_counter(); [clip(p).input_ids for p in prompts]; t1 = time.perf_counter()
    [t5(p).input_ids for p in prompts]; t2 = time.perf_counter()
    [sp.encode(p) for p in prompts]; t3 = time.perf_counter()
    print(f"reference speed: CLIPTokenizer {len(prompts)/(t1-t0):.0f} prompts/s, T5Tokenizer "
          f"{len(prompts)/(t2-t1):.0f} prompts/s, sentencepiece {len(prompts)/(t3-t2):.0f} prompts/s")

    corpus = {"prompts": prompts, "clip": clip_ids, "t5": t5_ids,
              "t5_spm_diff": {str(i): spm_ids[i] for i in diff}, "t5_bytefallback": bf_ids}
    path = os.path.join(FIX, "tokenizer-corpus.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write("{\n")
        keys = list(corpus)
        for k in keys:
            rows = corpus[k]
            f.write(json.dumps(k) + (": " if isinstance(rows, dict) else ": [\n"))
            if isinstance(rows, dict):
                f.write(json.dumps(rows, ensure_ascii=False, separators=(",", ":")) + ("," if k != keys[-1] else "") + "\n")
                continue
            f.write(",\n".join(json.dumps(x, ensure_ascii=False, separators=(",", ":")) for x in rows))
            f.write("\n]" + ("," if k != keys[-1] else "") + "\n")
        f.write("}\n")
    print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
