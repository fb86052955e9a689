"""Deterministic generator of varied prompts for tokenizer parity tests (and of SentencePiece
training text).  Imported by Tools/make_tokenizer_fixtures.py."""
import random

SUBJECTS = ["a cat", "an old man", "a young woman", "a red fox", "two dogs", "a castle", "a robot", "a dragon",
            "a bowl of ramen", "a lighthouse", "an astronaut", "a samurai", "a koi pond", "a vintage car",
            "a girl in a hanfu dress", "a bustling market", "a mountain village", "a cyberpunk street",
            "a teapot", "the Eiffel Tower", "a panda", "a waterfall", "an owl", "a sailboat", "a violin"]
ADJS = ["beautiful", "ultra-detailed", "cinematic", "moody", "vibrant", "hyperrealistic", "dreamy", "gloomy",
        "minimalist", "ornate", "glowing", "misty", "sunlit", "rainy", "snowy", "ancient", "futuristic"]
STYLES = ["oil painting", "watercolor", "studio photo", "35mm film", "8k render", "ink wash painting",
          "concept art", "pixel art", "ukiyo-e print", "low-poly 3D", "charcoal sketch", "Unreal Engine 5",
          "by Greg Rutkowski", "trending on ArtStation", "bokeh, f/1.8, 85mm", "HDR", "isometric view"]
PLACES = ["in Kyoto", "on Mars", "under the sea", "at sunset", "in the rain", "at night", "in a forest",
          "on a rooftop", "in New York City", "in the Sahara", "near the Great Wall", "inside a cathedral"]
ZH = ["一只猫", "坐在窗台上", "水墨画", "古风美女", "穿着汉服", "高清", "杰作", "最佳质量", "夕阳下的长城",
      "赛博朋克城市", "下雨的夜晚", "樱花树下", "一碗热腾腾的拉面", "雪山", "湖边的小屋", "电影感光影",
      "超现实主义", "龙", "熊猫在吃竹子", "故宫", "西湖", "月亮", "星空", "少女", "老人", "江南水乡",
      "中国风", "细节丰富", "柔和的光线", "广角镜头", "油画风格", "动漫风格", "写实", "大师作品", "红色灯笼",
      "繁體中文測試", "鳳凰", "麒麟", "書法", "黃山雲海"]
JA = ["桜の木の下で", "東京の夜景", "猫が寝ている", "アニメ風", "ラーメン", "富士山"]
KO = ["서울의 밤거리", "한복을 입은 여자", "고양이", "아름다운 풍경"]
OTHER = ["Привет мир, кошка на крыше", "Ελληνικά ΣΟΦΙΑ σοφός", "مرحبا بالعالم", "नमस्ते दुनिया", "สวัสดีครับ",
         "שלום עולם", "İstanbul ıssız", "Straße groß STRASSE", "Ærøskøbing Ångström", "Łódź Źdźbło",
         "Tiếng Việt có dấu", "ქართული", "Հայերեն", "ᚠᚢᚦ runes", "ǅemal ǈubljana"]
EMOJI = ["🐱", "🐶", "🔥", "✨", "❤️", "👍🏽", "👩‍💻", "👨‍👩‍👧‍👦", "🇨🇳", "🇺🇸", "🏳️‍🌈", "😀😃😄", "🎨🖌️",
         "☕", "🌸", "🌧️", "🤖", "🦊", "🐉", "⭐️", "1️⃣", "©️", "™"]
ACCENTS = ["café", "naïve", "résumé", "jalapeño", "crème brûlée", "Zoë", "São Paulo", "Malmö", "façade",
           "cafe\u0301", "nai\u0308ve", "A\u030angstro\u0308m", "\u1100\u1161\u11a8", "e\u0301\u0301",
           "o\u0308\u0304", "\u212b", "\u2126", "ﬁne ﬂower", "Ⅻ", "㎏", "ｆｕｌｌｗｉｄｔｈ", "１０２４", "ｶﾀｶﾅ"]
PUNCT = ["!!!", "...", "?!?!", "---", "((masterpiece))", "[[best quality]]", "{{}}", "(cat:1.3)",
         "<lora:flux:0.8>", "@@@", "###", "$$$", "%%", "^_^", ":-)", ">_<", "~~~", "***", "___", "||", "\\\\",
         "/", "''", '""', "“quoted”", "‘single’", "«guillemets»", "「括号」", "【标签】", "，。！？", "、；：",
         "…", "—", "·", "•", "¿qué?", "¡hola!", "a.b.c", "e-mail", "x_y-z", "#hashtag", "@user", "C++",
         "C#", "node.js", "http://example.com/a?b=c&d=e", "user@example.com", "1/2", "50%", "$9.99", "€20",
         "¥100", "£5", "#ff00aa", "3:2", "16:9"]
HTML = ["&amp;", "&lt;b&gt;bold&lt;/b&gt;", "&quot;hi&quot;", "&#39;", "&#x27;", "&nbsp;", "&amp;amp;",
        "Tom &amp; Jerry", "<b>tag</b>", "<br/>", "&copy; 2024", "&eacute;t&eacute;"]
NUMBERS = ["1024x1024", "3.14159", "2,000", "1e-5", "0.5", "42", "007", "2024-06-01", "12:30", "v1.1",
           "100000000", "٣٤٥", "१२३", "½", "²³", "①②③", "〇一二三", "IV", "4K", "60fps", "-3", "+7"]
CONTRACTIONS = ["it's", "don't", "I'm", "we'll", "they'd", "you're", "I've", "IT'S", "Don'T", "isn't",
                "it’s", "rock'n'roll", "'tis", "o'clock", "y'all", "he'd've", "'s'", "''s", "the dog's bone"]
SPACES = ["  ", "   ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2003", "\u2009", " \t \n ", "\u200b", "\u202f",
          "\u205f", "\u1680", "\u0085", "\u2028", "\ufeff", "\u200d", "\x0b", "\x0c"]
SPECIAL = ["<|startoftext|>", "<|endoftext|>", "<|ENDOFTEXT|>", "</s>", "<pad>", "<unk>", "<s>",
           "<extra_id_0>", "<extra_id_99>", "<extra_id_5>x", "</s></s>", "▁", "▁▁word", "<mask>"]
CONTROL = ["\x07", "\x1b[0m", "\x00", "\x7f", "\u00ad", "\ufffd", "\U0001f3fb", "\U000e0041"]

WORDS = None


def english_prompt(r):
    parts = [r.choice(SUBJECTS)]
    if r.random() < 0.7: parts.insert(0, r.choice(ADJS))
    if r.random() < 0.6: parts.append(r.choice(PLACES))
    for _ in range(r.randint(0, 4)): parts.append(r.choice(STYLES + ADJS))
    sep = r.choice([", ", " ", ". ", "; ", ",", " | "])
    s = sep.join(parts)
    if r.random() < 0.2: s = s.title()
    if r.random() < 0.1: s = s.upper()
    return s


def chinese_prompt(r):
    return r.choice(["，", "", " ", "、", ","]).join(r.choice(ZH) for _ in range(r.randint(1, 8)))


def mixed_prompt(r):
    pools = [SUBJECTS, ADJS, STYLES, ZH, JA, KO, OTHER, EMOJI, ACCENTS, PUNCT, HTML, NUMBERS, CONTRACTIONS]
    out = []
    for _ in range(r.randint(2, 12)):
        out.append(r.choice(r.choice(pools)))
        out.append(r.choice([" ", " ", ", ", "", r.choice(SPACES)]))
    return "".join(out)


BLOCKS = [(0x20, 0x7e), (0xa0, 0x24f), (0x370, 0x3ff), (0x400, 0x4ff), (0x590, 0x5ff), (0x600, 0x6ff),
          (0x900, 0x97f), (0xe00, 0xe7f), (0x1100, 0x11ff), (0x1e00, 0x1eff), (0x2000, 0x206f),
          (0x2070, 0x209f), (0x20a0, 0x20bf), (0x2100, 0x214f), (0x2150, 0x218f), (0x2190, 0x21ff),
          (0x2460, 0x24ff), (0x2e80, 0x2fd5), (0x3000, 0x303f), (0x3040, 0x30ff), (0x3130, 0x318f),
          (0x3200, 0x33ff), (0x4e00, 0x9fff), (0xac00, 0xd7a3), (0xf900, 0xfaff), (0xfb00, 0xfb4f),
          (0xfe30, 0xfe4f), (0xff00, 0xffef), (0x1d400, 0x1d7ff), (0x1f300, 0x1f64f), (0x1f900, 0x1f9ff),
          (0x20000, 0x2a6df)]


def unicode_soup(r):
    out = []
    for _ in range(r.randint(1, 30)):
        lo, hi = r.choice(BLOCKS)
        out.append(chr(r.randint(lo, hi)))
        if r.random() < 0.2: out.append(" ")
    return "".join(out)


def noisy(r, s):
    """Sprinkle whitespace runs, case changes and punctuation into a prompt."""
    chars = list(s)
    for _ in range(r.randint(0, 4)):
        i = r.randint(0, len(chars))
        chars.insert(i, r.choice(SPACES + PUNCT[:20] + CONTROL + SPECIAL[:3]))
    s = "".join(chars)
    if r.random() < 0.3: s = r.choice(SPACES) + s + r.choice(SPACES)
    return s


def long_prompt(r, n_words):
    words = []
    while len(words) < n_words:
        words.extend(r.choice([english_prompt, chinese_prompt, mixed_prompt])(r).split(" "))
    return " ".join(words[:n_words])


def make_corpus(n=2400, seed=1234):
    r = random.Random(seed)
    prompts = ["", " ", "a", "A photo of a cat", "a photo of a cat", "一只猫", "  leading and trailing  ",
               "\t\n", "hello   world", "it's a dog's life", "Hello, World!!!", "<|endoftext|>",
               "a<|endoftext|>b<|startoftext|>c", "x </s> y <extra_id_0> z", "🐱" * 40, "a " * 100,
               "A" * 300, "supercalifragilisticexpialidocious", "ﬁ", "\u212bngström", "x" + "\u0301" * 10]
    # Each catalogue entry alone, and in a short context.
    for pool in [ZH, JA, KO, OTHER, EMOJI, ACCENTS, PUNCT, HTML, NUMBERS, CONTRACTIONS, SPACES, SPECIAL, CONTROL]:
        for item in pool:
            prompts.append(item)
            prompts.append(f"a {item} b")
            prompts.append(f"X{item}{item}Y")
    gens = [(english_prompt, 0.3), (chinese_prompt, 0.15), (mixed_prompt, 0.25), (unicode_soup, 0.1)]
    while len(prompts) < n - 120:
        x = r.random()
        acc = 0.0
        for g, w in gens:
            acc += w
            if x < acc:
                prompts.append(g(r)); break
        else:
            prompts.append(noisy(r, r.choice([english_prompt, chinese_prompt, mixed_prompt])(r)))
    for _ in range(120):  # over-long prompts (truncated by CLIP at 77 and by T5 at 256/512)
        prompts.append(long_prompt(r, r.randint(60, 200)))
    return prompts


def _docstring_sentences():
    """English prose from the Python standard library's docstrings (always available, deterministic)."""
    import argparse, collections, csv, datetime, email, http.client, json, logging, pathlib, random as rnd
    import string, subprocess, textwrap, threading, unittest, urllib.request, zipfile
    out = []
    for mod in [argparse, collections, csv, datetime, email, http.client, json, logging, pathlib, rnd, string,
                subprocess, textwrap, threading, unittest, urllib.request, zipfile]:
        for name in sorted(dir(mod)):
            doc = getattr(getattr(mod, name, None), "__doc__", None)
            if isinstance(doc, str):
                out.extend(s.strip() for s in doc.replace("\n", " ").split(". ") if len(s.strip()) > 20)
    return sorted(set(out))


def training_text(n=30000, seed=99):
    """Sentences for training the small SentencePiece model: prompt-like English, Python docstring
    prose, Chinese phrases plus Zipf-distributed CJK characters (so rare ones fall outside the
    character coverage and become <unk>), a little Japanese/Korean/other scripts.  No emoji."""
    r = random.Random(seed)
    docs = _docstring_sentences()
    cjk = [chr(c) for c in range(0x4E00, 0x4E00 + 2500)]
    r.shuffle(cjk)
    weights = [1.0 / (i + 1) for i in range(len(cjk))]
    out = []
    for _ in range(n):
        g = r.random()
        if g < 0.3: out.append(english_prompt(r))
        elif g < 0.5: out.append(r.choice(docs))
        elif g < 0.7: out.append(chinese_prompt(r))
        elif g < 0.85: out.append("".join(r.choices(cjk, weights, k=r.randint(4, 30))))
        else:
            out.append(" ".join(r.choice(SUBJECTS + ZH + JA + KO + OTHER + ACCENTS + NUMBERS + CONTRACTIONS)
                                for _ in range(r.randint(2, 8))))
    return out
