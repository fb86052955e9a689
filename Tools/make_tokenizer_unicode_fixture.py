#!/usr/bin/env python3
"""Whole-Unicode check data for the tokenizers: for every code point c (surrogates excluded) the
string "x" + c + c + "7" is encoded by transformers' CLIPTokenizer, transformers' T5Tokenizer and
sentencepiece (fixtures of Tools/make_tokenizer_fixtures.py). The ids are hashed per block of 4096
code points (FNV-1a 64 over, per string, its id count then each id as uint32 little-endian) and
written to Tests/ModelsTests/Fixtures/tokenizer-unicode-blocks.json. This exercises, code point by
code point, whitespace / letter / number classes, lowercase, NFC and the nmt_nfkc rules.

  /work/venv/bin/python Tools/make_tokenizer_unicode_fixture.py [--dump DIR]   (--dump: full ids, for debugging)
"""
import json, os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "Tests", "ModelsTests", "Fixtures")
BLOCK = 4096
# Code points left out of the CLIP check (replaced by nothing: "x7"). None since CLIPTokenizer
# normalizes with the reference's Unicode 9 tables (ReferenceNFC.swift); the three doubled Unicode 16
# compositions (U+113C2, U+1611E, U+16D67) that Swift's NFC composes and the reference does not used to
# be listed here.
CLIP_EXCLUDED = []
MASK = (1 << 64) - 1


def fnv(h, ids):
    for v in [len(ids)] + list(ids):
        for k in range(4):
            h ^= (v >> (8 * k)) & 0xFF
            h = (h * 0x100000001B3) & MASK
    return h


def strings(block, excluded=()):
    out = []
    for cp in range(block * BLOCK, (block + 1) * BLOCK):
        c = "" if 0xD800 <= cp <= 0xDFFF or cp in excluded else chr(cp)
        out.append("x" + c + c + "7")
    return out


def main():
    import sentencepiece as spm
    from transformers import CLIPTokenizer, T5Tokenizer
    clip = CLIPTokenizer.from_pretrained(os.path.join(FIX, "clip-tokenizer")).backend_tokenizer
    t5 = T5Tokenizer.from_pretrained(os.path.join(FIX, "t5-tokenizer")).backend_tokenizer
    sp = spm.SentencePieceProcessor(model_file=os.path.join(FIX, "t5-tokenizer", "spiece.model"))
    dump = sys.argv[sys.argv.index("--dump") + 1] if "--dump" in sys.argv else None
    result = {"block": BLOCK, "clip_excluded": CLIP_EXCLUDED, "clip": [], "t5": [], "t5_spm": []}
    for b in range(0x110000 // BLOCK):
        s = strings(b)
        ids = {"clip": [e.ids for e in clip.encode_batch(strings(b, CLIP_EXCLUDED))],
               "t5": [e.ids for e in t5.encode_batch(s)],
               "t5_spm": [x + [1] for x in sp.encode(s)]}
        for k, v in ids.items():
            h = 0xCBF29CE484222325
            for x in v:
                h = fnv(h, x)
            result[k].append("%016x" % h)
        if dump:
            os.makedirs(dump, exist_ok=True)
            with open(os.path.join(dump, "block%03d.json" % b), "w") as f:
                json.dump(ids, f)
    with open(os.path.join(FIX, "tokenizer-unicode-blocks.json"), "w") as f:
        json.dump(result, f, indent=0)
    print("wrote", len(result["clip"]), "blocks")


if __name__ == "__main__":
    main()
