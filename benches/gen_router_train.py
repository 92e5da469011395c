#!/usr/bin/env python3
"""Builds the Smart Router training corpus, benches/data/router-train.jsonl (stdlib only, seeded).

How (and why it differs from the held-out set): the held-out set
(router-holdout-natural.jsonl) is whole prompts written one by one. This corpus is *composed*
from short hand-written seeds in benches/router_seeds/ (per language: six low-complexity questions
per domain, creative asks with their own complexity, "frames" that raise or lower what a prompt
asks for, code asks, hard negatives, a neutral paragraph) and language-neutral code/data fragments
(router_seeds/snippets.py). Every domain seed is used at all three complexities, so the model can
only learn complexity from what is *asked* (frames: steps, comparisons, deliverables, proofs), not
from the topic; and domain from the topic, not from the frame. Hard negatives: prose that talks
about programming (code = false), design questions without code (domain code, code = false),
formulas/statutes/prices (symbols without code), long pasted text with a trivial ask (low),
terse asks for a proof or a design (high). A per-language domain word list (router_seeds/vocab.py)
put into topic frames widens the vocabulary; those rows carry no complexity label (null).

Whole prompts written by hand per language and category (router_seeds/written/: <lang>.jsonl,
100 per language, across domains and complexities; <lang>-2.jsonl, 80 per language, short asks
for a formula or a command in prose, hard negatives about software, short low questions per
domain; <lang>-3.jsonl, 80 per language, messages typed at work, 10 per domain, where the line
between domains runs) are added as they are: real topics and asks for code that no frame composes.

Each row carries `group` (the seed it came from) so the trainer can validate on unseen seeds.
Usage: gen_router_train.py > benches/data/router-train.jsonl
"""

import json
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "router_seeds"))
import east  # noqa: E402
import en  # noqa: E402
import extra  # noqa: E402
import north  # noqa: E402
import snippets  # noqa: E402
import vocab  # noqa: E402
import west  # noqa: E402

R = random.Random(20261119)
SEEDS = {**en.SEEDS, **west.SEEDS, **north.SEEDS, **east.SEEDS}
DOMAINS = ["general", "math", "science", "legal", "medical", "finance", "code"]


def casual(text):
    """Chat-style noise: some prompts start lower-case or lose their final punctuation."""
    r = R.random()
    if r < 0.15 and text[:1].isupper():
        text = text[0].lower() + text[1:]
    if R.random() < 0.12 and text[-1:] in ".?":
        text = text[:-1]
    return text


def high_frame(s, seed):
    """A seed plus two to four demanding asks, as prose or as a bulleted list."""
    k = R.randint(2, 4)
    asks = R.sample(s["high_suf"], k)
    pre = R.choice(s["high_pre"]) if R.random() < 0.5 else ""
    if R.random() < 0.35:
        lines = "\n".join(("- " if R.random() < 0.5 else f"{i + 1}. ") + a.strip() for i, a in enumerate(asks))
        return f"{pre}{seed}\n{lines}"
    return pre + seed + "".join(asks)


def rows_for(lang, s):
    out = []

    def add(prompt, code, cx, dom, group):
        out.append({"prompt": prompt, "lang": lang, "code": code, "complexity": cx, "domain": dom,
                    "sensitive": False, "group": f"{lang}:{group}"})

    x = extra.X[lang]
    med_suf = s["med_suf"] + x["med_suf2"]
    for dom in DOMAINS:
        for i, seed in enumerate(s[dom]):
            g = f"{dom}{i}"
            add(casual(R.choice(s["low_pre"]) * (R.random() < 0.3) + seed + R.choice(s["low_suf"]) * (R.random() < 0.3)),
                False, "low", dom, g)
            add(casual(seed + R.choice(med_suf)), False, "medium", dom, g)
            add(casual(seed + R.choice(x["med_suf2"])), False, "medium", dom, g)
            add(high_frame(s, seed), False, "high", dom, g)
            add(high_frame(s, seed), False, "high", dom, g)
    # Second round (router_seeds/extra.py): short writing and advice tasks, medium whatever the
    # topic, and asks for code or a command with no snippet.
    for i, (dom, text) in enumerate(x["write_med"]):
        add(text, False, "medium", dom, f"write_med{i}")
        add(casual(text), False, "medium", dom, f"write_med{i}")
    for i, text in enumerate(x["code_ask"]):
        for _ in range(3):
            add(casual(text), True, "low", "code", f"code_ask{i}")
    for i, (cx, text) in enumerate(s["creative"]):
        add(text, False, cx, "creative", f"creative{i}")
        add(casual(text), False, cx, "creative", f"creative{i}")
    for i, (dom, text) in enumerate(s["short_high"]):
        add(text, False, "high", dom, f"short_high{i}")
    for i, text in enumerate(s["code_ask_low"]):
        for _ in range(3):
            add(casual(text), True, "low", "code", f"code_ask_low{i}")
    for i, (dom, text) in enumerate(s["neg_prog"]):
        add(casual(text), False, "low", dom, f"neg_prog{i}")
        add(text + R.choice(s["med_suf"]), False, "medium", dom, f"neg_prog{i}")
    for i, ask in enumerate(s["paste_low"]):
        add(f"{ask}\n\n{s['paragraph']}", False, "low", "general", f"paste{i}")
    # Code: every language sees every fragment with its own lead-ins.
    for i, (dom, size, frag) in enumerate(snippets.CODE):
        ask = R.choice(s["code_ask_snip"])
        cx = "low" if size == "one" else "medium"
        prompt = f"{ask} {frag}" if size == "one" else (f"{ask}\n\n{frag}" if R.random() < 0.7 else f"{frag}\n\n{ask}")
        add(prompt, True, cx, dom, f"snip{i}")
    for i, topic in enumerate(s["code_high_topic"]):
        for j, ask in enumerate(s["code_ask_high"] * 2):
            j = j % 2
            if j == 0:
                add(f"{topic} {ask}", True, "high", "code", f"code_high{i}")
            else:
                dom, size, frag = R.choice([c for c in snippets.CODE if c[1] == "multi"])
                add(f"{topic}\n\n{frag}\n\n{ask}", True, "high", "code" if dom == "code" else dom, f"code_high{i}")
    # Domain vocabulary in topic frames: labelled for domain only (complexity null: a list of
    # terms asks for nothing in particular), then the same terms under medium and high frames.
    v = vocab.V[lang]
    for dom in DOMAINS + ["creative"]:
        terms = v[dom].split() + x["vocab"][dom].split()
        for i in range(28):
            a, b, c = R.sample(terms, 3)
            topic = R.choice(v["frames"]).format(a=a, b=b, c=c)
            # Software terms alone say nothing about whether code is asked for: no code label.
            code = None if dom == "code" else False
            if i < 16:
                add(casual(topic), code, None, dom, f"vocab-{dom}{i % 4}")
            elif i < 22:
                add(topic + R.choice(med_suf), code, "medium", dom, f"vocab-{dom}{i % 4}")
            else:
                add(high_frame(s, topic), code, "high", dom, f"vocab-{dom}{i % 4}")
    for i, (dom, text) in enumerate(R.sample(snippets.NOT_CODE, 4)):
        add(text + R.choice(s["med_suf"]), False, "medium", dom, f"notcode{i}")
    return out


WRITTEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "router_seeds", "written")


def numbers():
    """A figure as prompts carry them: a reference, an amount, a date, a long id or account-like
    block. None of them makes a prompt code."""
    d = lambda n: "".join(R.choice("0123456789") for _ in range(n))
    return R.choice([
        lambda: d(11),
        lambda: " ".join(d(4) for _ in range(4)),
        lambda: f"{R.choice(['DE', 'FR', 'PL', 'IT', 'NL', 'ES'])}{d(2)} " + " ".join(d(4) for _ in range(5)),
        lambda: f"#{d(4)}-{d(4)}",
        lambda: f"{d(2)}.{d(2)}.20{d(2)}",
        lambda: f"{R.randint(1, 99)} {d(3)},{d(2)} €",
        lambda: f"{d(3)}/{d(4)}/{d(2)}",
        lambda: f"{R.choice(['A', 'B', 'K', 'R'])}{d(6)}",
    ])()


def with_number(text):
    """`text` with a figure placed after a random word."""
    words = text.split(" ")
    at = R.randrange(len(words) + 1)
    return " ".join(words[:at] + [numbers()] + words[at:])


def written_rows():
    """Whole prompts written one by one per language, domain and complexity (about 100 per
    language: 9 per domain across the three bands, 16 asks for code or pasted fragments, 8 hard
    negatives, 4 with figures or statutes but no code). The composed rows teach what a frame asks
    for; these bring the vocabulary of real topics and the asks for code in each language. Each
    is used as written, once more with chat-style noise and once with a figure in it."""
    out = []
    for name in sorted(os.listdir(WRITTEN)):
        with open(os.path.join(WRITTEN, name), encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                out.append(r)
                out.append({**r, "prompt": casual(r["prompt"])})
                # Digits are not code: the same prompt carrying an order number, an amount, a
                # date or an account-like block keeps its labels.
                out.append({**r, "prompt": with_number(r["prompt"])})
    return out


def main():
    rows = []
    for lang in sorted(SEEDS):
        rows.extend(rows_for(lang, SEEDS[lang]))
    rows.extend(written_rows())
    R.shuffle(rows)
    for r in rows:
        sys.stdout.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
