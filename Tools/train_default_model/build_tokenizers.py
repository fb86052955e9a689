"""Build the two tokenizers of the default model (run once, on a machine with open-clip-torch).

tokenizer/   : CLIP BPE vocab.json + merges.txt from the real CLIP merges shipped in open-clip-torch
               (open_clip/bpe_simple_vocab_16e6.txt.gz), exactly the openai/clip-vit-large-patch14 layout.
tokenizer_2/ : a SentencePiece unigram model trained on the caption grammar (English + Chinese), with
               T5 conventions (pad 0, eos 1, unk 2, no BOS, no sentinel extra ids), plus tokenizer.json.

usage: python build_tokenizers.py OUT_DIR
"""
import gzip
import json
import os
import random
import re
import sys

import scenes

T5_MAX_LENGTH = 32  # the longest grammar caption is 23 tokens; FluxPipeline pads to this length
CLIP_MAX_LENGTH = 77


def bytes_to_unicode():
    """GPT-2 / CLIP byte -> printable unicode table, in its canonical order."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def build_clip(out):
    import open_clip
    path = os.path.join(os.path.dirname(open_clip.__file__), "bpe_simple_vocab_16e6.txt.gz")
    lines = gzip.open(path).read().decode("utf-8").split("\n")
    merges = [tuple(m.split()) for m in lines[1:49152 - 256 - 2 + 1]]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    assert len(vocab) == 49408, len(vocab)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({v: i for i, v in enumerate(vocab)}, f, ensure_ascii=False)
    with open(os.path.join(out, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")
    special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
               "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}
    config = dict(special, add_prefix_space=False, do_lower_case=True, errors="replace",
                  model_max_length=CLIP_MAX_LENGTH, tokenizer_class="CLIPTokenizer")
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(out, "special_tokens_map.json"), "w") as f:
        json.dump(special, f, indent=2)


def chinese_lexicon():
    """Every Chinese word of the caption grammar (scenes.py) plus the function words of its templates."""
    words = {c[1] for c in scenes.COLOURS} | {s[2] for s in scenes.SHAPES} | {p[1] for p in scenes.POSITIONS}
    words |= {b[1] for b in scenes.BACKGROUNDS} | {t[1] for t in scenes.TEXTURES if t[1]}
    words |= {"小", "大", "中等", "大小", "一个", "有", "的", "在", "背景", "上", "个", "两", "三", "，", "："}
    return sorted(words, key=len, reverse=True)


def t5_corpus():
    """SentencePiece training text. The grammar's Chinese captions are so regular that a unigram model
    trained on them learns whole phrases as single pieces ('上方有一个绿色的三角形'), which would make
    every held-out (colour, shape, position) prompt an unseen token. So the corpus holds the English
    captions, each English and Chinese word alone on a line, and Chinese 'word salad' (random sequences
    of the lexicon's words): frequent pieces are then words, not phrases. Deterministic."""
    caps = scenes.all_caption_texts()
    en_caps = [t for t in caps if t.isascii()]
    en_words = sorted({w for t in en_caps for w in re.findall(r"[a-z]+", t)})
    zh_words = chinese_lexicon()
    rng = random.Random(0)
    salad = ["".join(rng.choice(zh_words) for _ in range(rng.randint(4, 12))) for _ in range(20000)]
    return en_caps + salad + [w for w in en_words + zh_words for _ in range(20)]


def build_t5(out, vocab_size=256):
    import sentencepiece as spm
    os.makedirs(out, exist_ok=True)
    corpus = os.path.join(out, "corpus.txt")
    with open(corpus, "w", encoding="utf-8") as f:
        for t in t5_corpus():
            f.write(t + "\n")
    spm.SentencePieceTrainer.train(
        input=corpus, model_prefix=os.path.join(out, "spiece"), model_type="unigram",
        vocab_size=vocab_size, hard_vocab_limit=False, character_coverage=1.0,
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>",
        num_threads=1, seed_sentencepiece_size=100000, shuffle_input_sentence=False,
        minloglevel=2)
    os.remove(corpus)
    os.remove(os.path.join(out, "spiece.vocab"))
    special = {"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
    config = dict(special, extra_ids=0, additional_special_tokens=[], model_max_length=T5_MAX_LENGTH,
                  tokenizer_class="T5Tokenizer", legacy=True)
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(out, "special_tokens_map.json"), "w") as f:
        json.dump(special, f, indent=2)
    # tokenizer.json through transformers' converter, then check it against sentencepiece itself
    from transformers import AutoTokenizer
    stale = os.path.join(out, "tokenizer.json")  # a previous build's file would be loaded instead of converting
    if os.path.exists(stale):
        os.remove(stale)
    tok = AutoTokenizer.from_pretrained(out)
    tok.backend_tokenizer.save(os.path.join(out, "tokenizer.json"))
    sp = spm.SentencePieceProcessor(model_file=os.path.join(out, "spiece.model"))
    bad = 0
    texts = scenes.all_caption_texts(n=500, seed=7)
    for t in texts:
        pieces = sp.encode(t, out_type=str)
        colour = [p for p in pieces if any(c[1] in p for c in scenes.COLOURS)]
        if any(any(s[2] in p for s in scenes.SHAPES) or any(q[1] in p for q in scenes.POSITIONS) for p in colour):
            raise RuntimeError(f"a T5 piece spans colour and shape/position words: {pieces}")
        a = sp.encode(t) + [1]
        b = tok(t)["input_ids"]
        bad += a != b
    print(f"tokenizer_2: {sp.get_piece_size()} pieces; sentencepiece vs transformers mismatches: {bad}/{len(texts)}")
    return sp.get_piece_size()


if __name__ == "__main__":
    out = sys.argv[1]
    build_clip(os.path.join(out, "tokenizer"))
    build_t5(os.path.join(out, "tokenizer_2"))
