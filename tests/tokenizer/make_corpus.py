#!/usr/bin/env python3
"""Writes tests/tokenizer/corpus.jsonl: the strings llamaref's tokenizers are checked on.

One JSON string per line (so strings may hold newlines, tabs, NUL). The corpus is made of
hand-written samples in many languages and scripts, code, numbers, emoji and characters outside
the Llama 2 vocabulary (byte fallback), plus deterministic variations of them: whitespace runs,
tabs, newlines, CRLF, leading and trailing spaces, case changes, concatenations and cuts at
every kind of boundary. Re-running the script gives the same file (fixed seed).

    python3 tests/tokenizer/make_corpus.py   # from the repository root
"""
import json
import os
import random

SAMPLES = [
    # English
    "Hello world", "Hello, world!", "This is a test sentence.", "This is a response.",
    "The quick brown fox jumps over the lazy dog.",
    "Once upon a time, there was a little girl named Lily. She loved to play outside.",
    "It's a beautiful day; isn't it? I'd say we'll go, they've gone, you're right, I'm here.",
    "DON'T SHOUT. I'LL LISTEN. WE'VE HEARD. THEY'RE GONE. SHE'S BACK. HE'D KNOW.",
    "Mr. O'Neil's dog—the one with the red collar—ran 3.5 miles (5.6 km) in 42 minutes.",
    "e-mail: first.last+tag@example.com, web: https://www.example.org/path?q=1&r=two#frag",
    "A sentence with    four spaces and\ttabs\tand\nnewlines\n\nand a double newline.",
    "Windows line\r\nendings\r\nhere\r\n", "Old Mac\rline\rendings",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt.",
    # European languages
    "Le cœur a ses raisons que la raison ne connaît point. Ça va? Où est l'hôtel?",
    "Über den Wolken muss die Freiheit wohl grenzenlos sein. Straße, Größe, Äpfel.",
    "¿Dónde está la biblioteca? ¡Qué día más bonito! El niño comió piña.",
    "A língua portuguesa é falada em Portugal, no Brasil e em Angola. Ação, não, pão.",
    "Zażółć gęślą jaźń. Pchnąć w tę łódź jeża lub ośm skrzyń fig.",
    "Příliš žluťoučký kůň úpěl ďábelské ódy.", "Árvíztűrő tükörfúrógép.",
    "Şu iğneli fıçıya çık, ölçü görüş. İstanbul'da ılık bir gün.",
    "Þetta er íslenska: ð, þ, æ, ö.", "Høj bølge på søen, blåbær og æbler.",
    # Cyrillic, Greek, Armenian, Georgian
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "Привет, мир! Как дела? Всё хорошо, спасибо.", "Україна — це держава у Східній Європі. Ґанок, їжак, є.",
    "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία. Γειά σου Κόσμε!",
    "Բարեւ աշխարհ", "გამარჯობა მსოფლიო",
    # Right-to-left
    "مرحبا بالعالم! كيف حالك اليوم؟", "الْعَرَبِيَّةُ لُغَةٌ جَمِيلَةٌ", "שלום עולם! מה שלומך?",
    "فارسی: سلام دنیا", "اردو: ہیلو ورلڈ",
    # South and South-East Asian scripts
    "नमस्ते दुनिया! आप कैसे हैं?", "हिन्दी भारत की राजभाषा है।", "বাংলা ভাষা", "தமிழ் ஒரு மொழி",
    "తెలుగు భాష", "ಕನ್ನಡ", "മലയാളം", "ગુજરાતી", "ਪੰਜਾਬੀ", "සිංහල",
    "สวัสดีชาวโลก ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ", "ພາສາລາວ", "ភាសាខ្មែរ", "မြန်မာဘာသာ",
    "Tiếng Việt có dấu: Xin chào thế giới, cảm ơn bạn rất nhiều.",
    "Bahasa Indonesia: Selamat pagi, apa kabar?", "Kiswahili: Habari ya asubuhi.",
    # East Asian
    "你好，世界！今天天气很好。", "我爱北京天安门，天安门上太阳升。", "繁體中文：臺灣的夜市很熱鬧。",
    "こんにちは世界。今日はいい天気ですね。", "カタカナとひらがなと漢字を混ぜて書きます。",
    "안녕하세요 세계! 한국어는 한글로 씁니다.", "ᄀᄁᄂ 조합형 자모", "龘靐齉爩 rare CJK",
    "𠀀𠀁𠀂 CJK Extension B", "ｆｕｌｌｗｉｄｔｈ　ＡＢＣ　１２３", "ﾊﾝｶｸｶﾀｶﾅ",
    # Other scripts and symbols
    "አማርኛ ቋንቋ", "ᏣᎳᎩ", "ᚠᚢᚦᚨᚱᚲ runes", "𐌰𐌱𐌲 Gothic", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙 𝒜𝒷𝒸",
    "∀x∈ℝ: x² ≥ 0, ∑ᵢ aᵢ = ∫₀¹ f(x) dx ≈ π/4 ± ε, √2 ≠ 1.41",
    "© ® ™ § ¶ † ‡ • … ‰ ′ ″ € £ ¥ ₹ ₿ ¢ ¤", "←↑→↓↔ ⇒⇔ ∞ ∅ ∩ ∪ ⊂ ⊃ ≤ ≥",
    "“Smart quotes” and ‘single ones’ and «guillemets» and „German“ quotes",
    "Zero\u200bwidth\u200cjoiners\u200dand\ufeffBOM", "soft\u00adhyphen and non\u00a0breaking space",
    "e\u0301 vs é (combining acute vs precomposed)", "Z̴̡̢a̵l̷g̸o̶ ̵t̴e̷x̶t̵",
    "\u2028line separator\u2029paragraph separator", "ideographic\u3000space and en\u2002em\u2003spaces",
    # Emoji (many need byte fallback in Llama 2)
    "I love pizza 🍕 and tacos 🌮!", "😀😃😄😁😆😅😂🤣", "👍🏽 👋🏿 🧑‍💻 👨‍👩‍👧‍👦 🏳️‍🌈 🇫🇷🇯🇵",
    "Emoji at the end 🎉", "🎉 Emoji at the start", "🔥🔥🔥 fire x3", "❤️ ♥ ☺ ✓ ✔ ✗ ★ ☆",
    # Numbers
    "0", "1", "12", "123", "1234", "12345", "123456789", "3.14159265358979323846",
    "1,000,000 and 1.000.000 and 1 000 000", "-42 +17 0x1F 0b1010 1e-9 6.022e23",
    "2024-05-17T13:45:00Z", "Phone: +1 (555) 123-4567", "١٢٣٤٥ ٦٧٨٩٠ Arabic-Indic digits", "१२३ Devanagari digits",
    "Version 3.1.2-rc1 released on 12/31/1999 at 23:59:59.",
    # Code
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i] * b[i];\n}\n",
    "#include <stdio.h>\nint main(void) { printf(\"Hello, %s!\\n\", \"world\"); return 0; }",
    "const x = (a, b) => a ?? b; // nullish\nlet y = `template ${x}`;",
    "{\"name\": \"llamaref\", \"version\": [0, 1, 0], \"ok\": true, \"nil\": null}",
    "<html><body><p class=\"x\">Hi &amp; bye</p></body></html>",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC LIMIT 10;",
    "    indented with four spaces\n        and eight\n", "\t\ttwo tabs\n\t\t\tthree tabs",
    "x+=1;y-=2;z*=3;w/=4;a%=5;b&=6;c|=7;d^=8;e<<=1;f>>=2;", "if a != b and not (c == d or e <= f): pass",
    "$ ls -la | grep '^d' && echo \"done\" > /dev/null 2>&1",
    "```python\nprint('hi')\n```", "# Title\n\n- item 1\n- item 2\n\n**bold** _italic_ `code`",
    # Llama special-token text typed as plain text
    "<|begin_of_text|>", "<|eot_id|>hello<|start_header_id|>user<|end_header_id|>",
    "<s>[INST] <<SYS>>\nsys\n<</SYS>>\n\nhi [/INST]", "</s><unk><pad>", "<0x0A> <0xFF>",
    # Whitespace and edge cases
    "", " ", "  ", "   ", "\t", "\n", "\r\n", " \n ", "\n\n\n", "\t \t", "a", " a", "a ", " a ",
    "  leading two", "trailing two  ", "    ", "\u00a0", "\v\f", "▁", "▁▁ already escaped ▁", "_underscore_",
    "'s", "'S", "'ll've're", "don't", "DON'T", "it’s (typographic apostrophe)", "Hello\u0000NUL\u0000bytes",
    "a\u0001b\u001fc\u007fd", "!!!???...,,,;;;:::", "((([[[{{{}}}]]])))", "----====____++++",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "ababababababababababab", "the the the the the the",
]

WORDS = []
for s in SAMPLES:
    WORDS.extend(w for w in s.replace("\n", " ").split(" ") if w)

WHITESPACE = [" ", "  ", "   ", "\t", "\n", "\r\n", "\n\n", " \n", "\n ", "\t\t", "    ", "\u3000", "\u00a0"]


def variations(s, rng):
    yield s
    yield " " + s
    yield s + " "
    yield "  " + s + "  "
    yield s.upper()
    yield s.lower()
    yield s.replace(" ", "  ")
    yield s.replace(" ", "\t")
    yield s.replace(" ", "\n")
    yield s.replace(" ", "\r\n")
    yield s + "\n"
    yield "\n" + s
    words = s.split(" ")
    if len(words) > 2:
        yield " ".join(words[: len(words) // 2])
        yield " ".join(words[len(words) // 2:])
    if len(s) > 3:  # cut at an arbitrary character
        k = rng.randrange(1, len(s))
        yield s[:k]
        yield s[k:]


def main():
    rng = random.Random(20240517)
    out, seen = [], set()

    def add(s):
        if s not in seen:
            seen.add(s)
            out.append(s)

    for s in SAMPLES:
        for v in variations(s, rng):
            add(v)
    # Random word soups joined by random whitespace: mixes scripts inside one string.
    while len(out) < 2600:
        n = rng.randint(1, 12)
        parts = []
        for _ in range(n):
            parts.append(rng.choice(WORDS))
            parts.append(rng.choice(WHITESPACE) if rng.random() < 0.3 else " ")
        s = "".join(parts)
        if rng.random() < 0.5:
            s = s.strip(" ")
        add(s)
    # A few long multi-paragraph strings.
    for _ in range(20):
        add("\n\n".join(rng.choice(SAMPLES) for _ in range(rng.randint(5, 20))))

    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "corpus.jsonl"), "w", encoding="utf-8") as f:
        for s in out:
            f.write(json.dumps(s, ensure_ascii=False) + "\n")
    print(f"wrote {len(out)} strings")


if __name__ == "__main__":
    main()
