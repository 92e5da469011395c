#!/usr/bin/env python3
"""Trains the Smart Router's signal model and writes what the gateway ships.

Model: one linear layer, 12 outputs (1 code logit, 3 complexity logits low/medium/high, 8 domain
logits in `signals::DOMAINS` order), over
  * hashed character n-grams (lengths CHAR_N) of the normalised text,
  * hashed word unigrams and bigrams,
  * DENSE structural features (code-symbol density, line structure, indentation, brackets,
    digits, question marks, list items, length buckets, ...).
Each n-gram group is scaled by 1/sqrt(occurrences in the group), so a long prompt does not win
by sheer length. Trained by full-batch Adam on the sum of the three cross-entropies plus L2,
then the n-gram table is quantised to int8 per output (the Rust side sums the int8 weights in
integers, which is both fast and exactly reproducible).

Outputs (paths relative to the repository):
  src/router/model.bin                  weights, read by src/router/model.rs (include_bytes!)
  src/router/testdata/parity.json       fixed prompts with the scores this script computes from
                                        the *quantised* weights; a Rust unit test must match them

The feature extraction here and in src/router/model.rs must stay identical: change both, rerun,
and the parity test tells. Only numpy is needed (benches/requirements-train.txt).

Usage: python3 benches/train_router.py [--train benches/data/router-train.jsonl] [--cv]
  --cv  5-fold cross-validation by seed group on the training corpus (for choosing settings);
        it never reads the held-out sets.
"""

import argparse
import hashlib
import json
import math
import os
import re
import struct
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ---- feature specification (mirror of src/router/model.rs) ------------------------------------

CLASSIFY_HEAD = 3072
CLASSIFY_TAIL = 1024
BUCKETS_LOG2 = 17
BUCKETS = 1 << BUCKETS_LOG2
CHAR_N = (3, 5)
DOMAINS = ["general", "code", "math", "science", "legal", "medical", "finance", "creative"]
COMPLEXITY = ["low", "medium", "high"]
OUTPUTS = 1 + len(COMPLEXITY) + len(DOMAINS)

# Whitespace as both sides define it (Python's str.isspace and Rust's char::is_whitespace differ
# on a few control characters, so neither is used).
WS = set(" \t\n\r\x0b\x0c\x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | {chr(c) for c in range(0x2000, 0x200B)}
SYMBOLS = set("{}[]();=<>_$#@\\|/*&^~`")
BRACKETS = set("{}[]()<>")
TRACE_MARKS = (
    "Traceback (most recent call last)",
    "panicked at ",
    "Exception in thread",
    "goroutine ",
    "Uncaught ",
    "error[E",
    "npm ERR!",
    "Caused by: ",
)
OPERATORS = ("->", "=>", "::", "&&", "||", "!=", "==", ":=", "+=", "</", "/>")
DENSE_NAMES = [
    "log_chars", "len<60", "len<150", "len<400", "len<1000", "len<2500", "len>=2500",
    "log_words", "log_lines", "indented_lines", "code_line_ends", "symbol_density",
    "log_brackets", "digit_ratio", "log_question_marks", "ends_with_question", "log_list_items",
    "fence", "stack_trace", "log_sentences", "log_commas", "log_latex_commands",
    "log_identifiers", "log_calls", "log_equals", "key_value_lines", "separated_value_lines",
    "upper_ratio", "log_operators", "log_backticks", "log_long_lines", "bias_like_empty",
]
DENSE = len(DENSE_NAMES)


def capped(text):
    """First CLASSIFY_HEAD bytes + newline + last CLASSIFY_TAIL bytes, on char boundaries."""
    b = text.encode("utf-8")
    if len(b) <= CLASSIFY_HEAD + CLASSIFY_TAIL:
        return text
    head = CLASSIFY_HEAD
    while head > 0 and (b[head] & 0xC0) == 0x80:
        head -= 1
    tail = len(b) - CLASSIFY_TAIL
    while tail < len(b) and (b[tail] & 0xC0) == 0x80:
        tail += 1
    return b[:head].decode("utf-8") + "\n" + b[tail:].decode("utf-8")


def normalise(text):
    """Lower case, ASCII digits to '0', combining accents dropped, final sigma to sigma, whitespace
    runs to one space, padded with a space on both sides."""
    out = [" "]
    for c in text:
        if c in WS:
            if out[-1] != " ":
                out.append(" ")
            continue
        if "0" <= c <= "9":
            out.append("0")
            continue
        for lc in c.lower():
            if "\u0300" <= lc <= "\u036f":
                continue
            out.append("σ" if lc == "ς" else lc)
    if out[-1] != " ":
        out.append(" ")
    return "".join(out)


def is_word(c):
    return c.isalnum() or c == "_"


def fnv1a(data, h=0x811C9DC5):
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def char_grams(norm):
    """(bucket, n-gram) for every character n-gram; one FNV pass per start position, extended
    from the shortest to the longest length (the Rust side does the same)."""
    chars = list(norm)
    enc = [c.encode("utf-8") for c in chars]
    out = []
    lo, hi = min(CHAR_N), max(CHAR_N)
    for i in range(len(chars) - lo + 1):
        h = fnv1a(b"c")
        for n in range(1, hi + 1):
            if i + n > len(chars):
                break
            h = fnv1a(enc[i + n - 1], h)
            if n in CHAR_N:
                out.append((h & (BUCKETS - 1), "".join(chars[i:i + n])))
    return out


def words(norm):
    toks, cur = [], []
    for c in norm:
        if is_word(c):
            cur.append(c)
        elif cur:
            toks.append("".join(cur))
            cur = []
    if cur:
        toks.append("".join(cur))
    return toks


def word_grams(toks):
    out = []
    for i, t in enumerate(toks):
        out.append((fnv1a(b"w" + t.encode("utf-8")) & (BUCKETS - 1), t))
        if i + 1 < len(toks):
            bi = t + " " + toks[i + 1]
            out.append((fnv1a(b"b" + bi.encode("utf-8")) & (BUCKETS - 1), bi))
    return out


def strip_ws(s):
    a, b = 0, len(s)
    while a < b and s[a] in WS:
        a += 1
    while b > a and s[b - 1] in WS:
        b -= 1
    return s[a:b]


def log1(x, d):
    return math.log(1.0 + x) / d


def dense(text, n_words):
    """Structural features of the capped raw text; every one is in [0, ~1]."""
    chars = text
    n = len(chars)
    lines = [l for l in text.split("\n") if strip_ws(l)]
    nl = len(lines)
    f = [0.0] * DENSE
    f[0] = log1(n, 8.0)
    for i, lim in enumerate((60, 150, 400, 1000, 2500)):
        if n < lim:
            f[1 + i] = 1.0
            break
    else:
        f[6] = 1.0
    f[7] = log1(n_words, 6.0)
    f[8] = log1(nl, 4.0)
    indented = code_ends = lists = kv = sep = long_lines = 0
    for l in lines:
        if l.startswith("  ") or l.startswith("\t"):
            indented += 1
        s = strip_ws(l)
        last = s[-1]
        if last in "{}" or (last == ";" and any(c in s for c in "=(){}[]")):
            code_ends += 1
        if s[:2] in ("- ", "* ", "• "):
            lists += 1
        else:
            j = 0
            while j < len(s) and "0" <= s[j] <= "9":
                j += 1
            if 0 < j < len(s) - 1 and s[j] in ".)" and s[j + 1] == " ":
                lists += 1
        # key: value / key = value (config files): an identifier, then ':' or '='.
        j = 0
        if s and (s[0].isascii() and (s[0].isalpha() or s[0] == "_")):
            while j < len(s) and s[j].isascii() and (s[j].isalnum() or s[j] in "_.-"):
                j += 1
            k = j
            while k < len(s) and s[k] == " ":
                k += 1
            if k < len(s) and s[k] in ":=" and k + 1 < len(s):
                kv += 1
        tight = 0
        for a, b in zip(s, s[1:]):
            if a in ",;\t|" and b not in WS:
                tight += 1
        if tight >= 2:
            sep += 1
        if len(s) > 160:
            long_lines += 1
    if nl:
        f[9] = indented / nl
        f[10] = code_ends / nl
        f[25] = kv / nl
        f[26] = sep / nl
    f[30] = log1(long_lines, 2.0)
    sym = sum(1 for c in chars if c in SYMBOLS)
    f[11] = min(1.0, 5.0 * sym / max(n, 1))
    f[12] = log1(sum(1 for c in chars if c in BRACKETS), 5.0)
    f[13] = min(1.0, 3.0 * sum(1 for c in chars if "0" <= c <= "9") / max(n, 1))
    f[14] = log1(text.count("?"), 2.0)
    st = strip_ws(text)
    f[15] = 1.0 if st.endswith("?") else 0.0
    f[16] = log1(lists, 2.0)
    f[17] = 1.0 if "```" in text else 0.0
    trace = any(m in text for m in TRACE_MARKS)
    if not trace:
        for l in lines:
            s = strip_ws(l)
            if s.startswith("at ") and s.endswith(")") and ":" in s:
                trace = True
                break
    f[18] = 1.0 if trace else 0.0
    sentences = 0
    for i, c in enumerate(chars):
        if c in ".?!" and (i + 1 == n or chars[i + 1] in WS):
            sentences += 1
    f[19] = log1(sentences, 3.0)
    f[20] = log1(text.count(","), 4.0)
    latex = sum(1 for a, b in zip(chars, chars[1:]) if a == "\\" and b.isascii() and b.isalpha())
    f[21] = log1(latex, 3.0)
    idents = 0
    for tok in raw_tokens(text):
        inner = "_" in tok.strip("_")
        camel = any(a.isascii() and a.islower() and b.isascii() and b.isupper() for a, b in zip(tok, tok[1:]))
        if inner or camel:
            idents += 1
    f[22] = log1(idents, 3.0)
    calls = sum(1 for a, b in zip(chars, chars[1:]) if b == "(" and a.isascii() and (a.isalnum() or a == "_"))
    f[23] = log1(calls, 3.0)
    f[24] = log1(text.count("="), 3.0)
    letters = sum(1 for c in chars if c.isascii() and c.isalpha())
    upper = sum(1 for c in chars if "A" <= c <= "Z")
    f[27] = upper / letters if letters else 0.0
    f[28] = log1(sum(text.count(op) for op in OPERATORS), 3.0)
    f[29] = log1(text.count("`"), 3.0)
    f[31] = 1.0 if n == 0 else 0.0
    return f


def raw_tokens(text):
    toks, cur = [], []
    for c in text:
        if is_word(c):
            cur.append(c)
        elif cur:
            toks.append("".join(cur))
            cur = []
    if cur:
        toks.append("".join(cur))
    return toks


class Features:
    """Sparse n-gram counts per group plus the dense vector, for one prompt."""

    def __init__(self, text, keep_names=False):
        text = capped(text)
        norm = normalise(text)
        cg = char_grams(norm)
        toks = words(norm)
        wg = word_grams(toks)
        self.n_char, self.n_word = len(cg), len(wg)
        self.char = {}
        self.word = {}
        for b, _ in cg:
            self.char[b] = self.char.get(b, 0) + 1
        for b, _ in wg:
            self.word[b] = self.word.get(b, 0) + 1
        self.dense = dense(text, len(toks))
        if keep_names:
            self.names = {}
            for b, s in cg + wg:
                self.names.setdefault(b, s)

    def sparse(self):
        """(bucket indices, values) with the per-group 1/sqrt(N) scaling folded in."""
        idx, val = [], []
        ic = 1.0 / math.sqrt(self.n_char) if self.n_char else 0.0
        iw = 1.0 / math.sqrt(self.n_word) if self.n_word else 0.0
        for b, c in self.char.items():
            idx.append(b)
            val.append(c * ic)
        for b, c in self.word.items():
            idx.append(b)
            val.append(c * iw)
        return idx, val


# ---- code rules (src/router/code_rules.txt, read by both sides) ---------------------------------

BOUNDARY = "(?:^|$|[^A-Za-z0-9_])"


def load_rules():
    rules = {"strong": [], "line": [], "tool": [], "ask": []}
    with open(os.path.join(ROOT, "src/router/code_rules.txt"), encoding="utf-8") as f:
        for l in f:
            if l.startswith("#") or not l.strip():
                continue
            kind, name, rx = l.rstrip("\n").split("\t", 2)
            # Bytes of the UTF-8 text, ASCII classes, \b rewritten: as signals.rs compiles them.
            rx = rx.replace("\\b", BOUNDARY)
            rules[kind].append((name, re.compile(rx.encode("utf-8"))))
    return rules


RULES = load_rules()
CODE_LINES = 2
# signals::CODE_THRESHOLD: with the rules carrying structural code, the model only has to add
# asks for code in natural language; 0.6 (see signals.rs for why).
CODE_THRESHOLD = 0.6


def code_rule(text):
    """Mirror of signals::code_rule: the first strong rule, two code-shaped lines, or a named
    tool together with a request for code."""
    text = text.encode("utf-8")
    for name, rx in RULES["strong"]:
        if rx.search(text):
            return name
    n = 0
    for l in text.split(b"\n"):
        if l.endswith(b"\r"):
            l = l[:-1]
        if any(rx.search(l) for _, rx in RULES["line"]):
            n += 1
            if n >= CODE_LINES:
                return "two or more code-shaped lines"
    if any(rx.search(text) for _, rx in RULES["tool"]) and any(rx.search(text) for _, rx in RULES["ask"]):
        return "a language or tool named with a request for code or a command"
    return None


# ---- quantised inference, exactly as the Rust side computes it --------------------------------

def infer(model, feats):
    """Logits from the int8 table: integer sums per group, then scale, then dense + bias."""
    q, scale, bias, wd = model["q"], model["scale"], model["bias"], model["dense"]
    sc = np.zeros(OUTPUTS, dtype=np.int64)
    sw = np.zeros(OUTPUTS, dtype=np.int64)
    for b, c in feats.char.items():
        sc += c * q[b].astype(np.int64)
    for b, c in feats.word.items():
        sw += c * q[b].astype(np.int64)
    ic = 1.0 / math.sqrt(feats.n_char) if feats.n_char else 0.0
    iw = 1.0 / math.sqrt(feats.n_word) if feats.n_word else 0.0
    out = []
    for k in range(OUTPUTS):
        z = float(bias[k]) + float(scale[k]) * (float(sc[k]) * ic + float(sw[k]) * iw)
        for j in range(DENSE):
            z += feats.dense[j] * float(wd[j][k])
        out.append(z)
    return out


def softmax(zs):
    m = max(zs)
    e = [math.exp(z - m) for z in zs]
    s = sum(e)
    return [x / s for x in e]


# ---- training -----------------------------------------------------------------------------------

def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def design(rows):
    indptr, indices, data, dense_rows = [0], [], [], []
    for r in rows:
        ft = Features(r["prompt"])
        i, v = ft.sparse()
        indices.extend(i)
        data.extend(v)
        indptr.append(len(indices))
        dense_rows.append(ft.dense)
    return (np.array(indptr, dtype=np.int64), np.array(indices, dtype=np.int64),
            np.array(data, dtype=np.float64), np.array(dense_rows, dtype=np.float64))


def targets(rows):
    y_code = np.array([1.0 if r["code"] else 0.0 for r in rows])
    # Rows whose code label is null train only the other heads.
    has_code = np.array([r.get("code") is not None for r in rows])
    # Rows without a complexity label (-1) train only the other heads.
    y_cx = np.array([COMPLEXITY.index(r["complexity"]) if r.get("complexity") else -1 for r in rows])
    y_dom = np.array([DOMAINS.index(r["domain"]) for r in rows])
    return y_code, y_cx, y_dom, has_code


def class_weights(y, k, power=0.5):
    """Balancing weights (inverse frequency to `power`; 0.5 = square root): rare classes count
    more without letting a few rows dominate."""
    counts = np.bincount(y, minlength=k).astype(np.float64)
    w = (counts.sum() / (k * np.maximum(counts, 1.0))) ** power
    return w[y]


def train(X, rows, l2=1e-5, l2_dense=1e-4, iters=400, lr=0.05, seed=0):
    indptr, indices, data, D = X
    n = len(rows)
    y_code, y_cx, y_dom, has_code = targets(rows)
    # Code positives are a minority of the corpus; weight the two classes equally.
    counts = np.bincount(y_code.astype(np.int64), minlength=2).astype(np.float64)
    w_code = (counts.sum() / (2 * np.maximum(counts, 1.0)))[y_code.astype(np.int64)] * has_code
    w_cx = np.where(y_cx >= 0, class_weights(np.maximum(y_cx, 0), 3), 0.0)
    w_dom = class_weights(y_dom, len(DOMAINS), power=1.0)
    # Pasted fragments are "code" by the code && general rule whatever the domain head says; as
    # domain examples they would only teach it that digits and symbols mean "code".
    w_dom = w_dom * np.array([0.25 if ":snip" in r.get("group", "") else 1.0 for r in rows])
    row_of = np.repeat(np.arange(n), np.diff(indptr))
    W = np.zeros((BUCKETS, OUTPUTS))
    Wd = np.zeros((DENSE, OUTPUTS))
    b = np.zeros(OUTPUTS)
    params = [W, Wd, b]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    b1, b2, eps = 0.9, 0.999, 1e-8
    Y_cx = np.eye(3)[np.maximum(y_cx, 0)]
    Y_dom = np.eye(len(DOMAINS))[y_dom]
    for t in range(1, iters + 1):
        contrib = W[indices] * data[:, None]
        Z = np.add.reduceat(contrib, indptr[:-1], axis=0)
        empty = np.diff(indptr) == 0
        Z[empty] = 0.0
        Z += D @ Wd + b
        G = np.zeros_like(Z)
        p = 1.0 / (1.0 + np.exp(-Z[:, 0]))
        G[:, 0] = (p - y_code) * w_code
        zc = Z[:, 1:4] - Z[:, 1:4].max(axis=1, keepdims=True)
        pc = np.exp(zc)
        pc /= pc.sum(axis=1, keepdims=True)
        G[:, 1:4] = (pc - Y_cx) * w_cx[:, None]
        zd = Z[:, 4:] - Z[:, 4:].max(axis=1, keepdims=True)
        pd = np.exp(zd)
        pd /= pd.sum(axis=1, keepdims=True)
        G[:, 4:] = (pd - Y_dom) * w_dom[:, None]
        G /= n
        gW = np.zeros_like(W)
        gvals = G[row_of] * data[:, None]
        for k in range(OUTPUTS):
            gW[:, k] = np.bincount(indices, weights=gvals[:, k], minlength=BUCKETS)
        gW += l2 * W
        gWd = D.T @ G + l2_dense * Wd
        # Domain is a matter of vocabulary: structure and length would only teach it that long
        # or symbol-rich prompts are "code" (whatever they are about), so its dense weights stay 0.
        gWd[:, 4:] = 0.0
        gb = G.sum(axis=0)
        step = lr * (0.1 + 0.9 * (1 - t / iters))
        for i, (p_, g) in enumerate(zip(params, [gW, gWd, gb])):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            mh = m[i] / (1 - b1 ** t)
            vh = v[i] / (1 - b2 ** t)
            p_ -= step * mh / (np.sqrt(vh) + eps)
    return W, Wd, b


def quantise(W, Wd, b):
    scale = np.abs(W).max(axis=0) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(W / scale), -127, 127).astype(np.int8)
    return {"q": q, "scale": scale.astype(np.float32).astype(np.float64),
            "bias": b.astype(np.float32).astype(np.float64),
            "dense": Wd.astype(np.float32).astype(np.float64)}


def predict(model, text):
    z = infer(model, Features(text))
    code_p = 1.0 / (1.0 + math.exp(-z[0]))
    cx = softmax(z[1:4])
    dom = softmax(z[4:])
    return z, code_p, cx, dom


def decide(model, text):
    """The gateway's decision (signals::analyse): rules + model, code && general -> code."""
    text = capped(text)
    _, cp, cx, dom = predict(model, text)
    code = code_rule(text) is not None or cp >= CODE_THRESHOLD
    d = DOMAINS[int(np.argmax(dom))]
    if code and d == "general":
        d = "code"
    return code, cx, d, cp


def evaluate(model, rows, by_lang=False):
    def blank():
        return {"tp": 0, "fp": 0, "fn": 0, "cx": 0, "n_cx": 0, "lh": 0, "n_lh": 0, "dom": 0, "n": 0}
    acc = {"all": blank()}
    cm = np.zeros((3, 3), dtype=int)
    for r in rows:
        code, cx, d, _ = decide(model, r["prompt"])
        for k in ("all", r.get("lang", "-")) if by_lang else ("all",):
            a = acc.setdefault(k, blank())
            a["n"] += 1
            if r.get("code") is not None:
                a["tp"] += code and r["code"]
                a["fp"] += code and not r["code"]
                a["fn"] += (not code) and r["code"]
            if r.get("domain"):
                a["dom"] += d == r["domain"]
            if r.get("complexity"):
                a["n_cx"] += 1
                a["cx"] += COMPLEXITY[int(np.argmax(cx))] == r["complexity"]
                if r["complexity"] != "medium":
                    a["n_lh"] += 1
                    a["lh"] += (cx[2] + cx[1] / 2 >= 0.5) == (r["complexity"] == "high")
        if r.get("complexity"):
            cm[COMPLEXITY.index(r["complexity"]), int(np.argmax(cx))] += 1
    out = {}
    for k, a in acc.items():
        out[k] = {"code_p": round(a["tp"] / max(a["tp"] + a["fp"], 1), 3),
                  "code_r": round(a["tp"] / max(a["tp"] + a["fn"], 1), 3),
                  "cx3": round(a["cx"] / max(a["n_cx"], 1), 3), "low_high": round(a["lh"] / max(a["n_lh"], 1), 3),
                  "domain": round(a["dom"] / max(a["n"], 1), 3)}
    if not by_lang:
        return out["all"]
    out["confusion"] = cm.tolist()
    return out


def fold_of(group):
    return int(hashlib.sha256(group.encode()).hexdigest(), 16) % 5


def write_model(model, path, meta):
    header = json.dumps({
        "format": 1, "buckets_log2": BUCKETS_LOG2, "char_n": list(CHAR_N), "outputs": OUTPUTS,
        "dense": DENSE_NAMES, "domains": DOMAINS, "complexity": COMPLEXITY, **meta,
    }, sort_keys=True).encode()
    with open(path, "wb") as f:
        f.write(b"STAVRTR1")
        f.write(struct.pack("<I", len(header)))
        f.write(header)
        f.write(struct.pack(f"<{OUTPUTS}f", *model["scale"]))
        f.write(struct.pack(f"<{OUTPUTS}f", *model["bias"]))
        f.write(struct.pack(f"<{DENSE * OUTPUTS}f", *model["dense"].reshape(-1)))
        f.write(model["q"].tobytes(order="C"))


def read_model(path):
    with open(path, "rb") as f:
        b = f.read()
    assert b[:8] == b"STAVRTR1"
    (hl,) = struct.unpack("<I", b[8:12])
    header = json.loads(b[12:12 + hl])
    o = 12 + hl
    scale = np.array(struct.unpack(f"<{OUTPUTS}f", b[o:o + 4 * OUTPUTS]), dtype=np.float64)
    o += 4 * OUTPUTS
    bias = np.array(struct.unpack(f"<{OUTPUTS}f", b[o:o + 4 * OUTPUTS]), dtype=np.float64)
    o += 4 * OUTPUTS
    dense = np.array(struct.unpack(f"<{DENSE * OUTPUTS}f", b[o:o + 4 * DENSE * OUTPUTS]), dtype=np.float64).reshape(DENSE, OUTPUTS)
    o += 4 * DENSE * OUTPUTS
    q = np.frombuffer(b[o:], dtype=np.int8).reshape(BUCKETS, OUTPUTS)
    return {"q": q, "scale": scale, "bias": bias, "dense": dense}, header


def report(model, path):
    res = evaluate(model, load(path), by_lang=True)
    print(f"== {os.path.relpath(path, ROOT)}")
    for k, v in res.items():
        print(f"  {k:>9} {v}")


PARITY_PROMPTS = [
    "",
    "What is the capital of Estonia?",
    "Warum bekomme ich hier eine NullPointerException?\n\n```java\nString s = null;\ns.length();\n```",
    "Écris un poème sur la mer à l'aube, en trois strophes.",
    "Prove that √2 is irrational, then generalise: for which n is √n rational? ΣΑΣ ς İstanbul",
    "SELECT id, SUM(total) FROM orders WHERE ts > '2024-01-01' GROUP BY id;",
    "Mam pytanie o kredyt hipoteczny: stała czy zmienna stopa? Porównaj trzy scenariusze na 25 lat.",
    "Τι είναι ο ΦΠΑ; Εξήγησέ το με ένα παράδειγμα.",
    "Traceback (most recent call last):\n  File \"x.py\", line 3, in <module>\nKeyError: 'a'",
    "tab\tand\u00a0nbsp\u2003em space, digits 0123456789 and emoji 🙂 done",
    ("Design a fault-tolerant ingestion pipeline. " * 80) + "\n" + ("data,row,1\n" * 120),
]


RULE_PROMPTS = [
    "Write a poem about the sea at dawn.",
    "```\nx = 1\n```",
    "SELECT id FROM users WHERE email LIKE '%@example.eu';",
    "Please select one option from the menu.",
    "Wie lösche ich in Linux alle Dateien, die älter als 30 Tage sind? find /var/log -mtime +30 -delete",
    "name: build\non: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest",
    "id;name;city\n1;Anna;Lyon\n2;Marek;Brno",
    "Gross £4,100.00 · Tax £611.60\nNet £3,074.36 · Pension £205.00",
    "Πόσο κάνει 250 επί 4;\nΚαι 300 επί 5;",
    "Πώς βλέπω την έκδοση της Java από το τερματικό;",
    "Mijn dochter wil Java leren. Welke cursus raad je aan?",
    "Napisz funkcję w Pythonie, która sortuje listę.",
    "Ik ben 'n fan van Rust-achtige tuinstoelen.",
    "Traceback (most recent call last):\r\n  File \"a.py\", line 1",
    "Compute \\frac{1}{2} + \\frac{1}{3}.",
    "*/5 * * * * /usr/bin/backup.sh",
]


def write_rule_fixture():
    """src/router/testdata/code_rules.json: what code_rule() says on fixed prompts (the Rust side
    must say the same)."""
    fixture = [{"prompt": p, "rule": code_rule(p)} for p in RULE_PROMPTS]
    with open(os.path.join(ROOT, "src/router/testdata/code_rules.json"), "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=1)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", default=os.path.join(ROOT, "benches/data/router-train.jsonl"))
    ap.add_argument("--cv", action="store_true")
    ap.add_argument("--folds", type=int, default=5, help="how many of the 5 folds to run with --cv")
    ap.add_argument("--l2", type=float, default=1e-5)
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--eval", nargs="*", default=[],
                    help="labelled files to report on after training (reporting only)")
    ap.add_argument("--eval-only", action="store_true", help="report on --eval with the shipped model.bin")
    args = ap.parse_args()
    if args.eval_only:
        write_rule_fixture()
        model, _ = read_model(os.path.join(ROOT, "src/router/model.bin"))
        for p in args.eval:
            report(model, p)
        return
    rows = load(args.train)
    if args.cv:
        res = []
        for k in range(args.folds):
            tr = [r for r in rows if fold_of(r["group"]) != k]
            va = [r for r in rows if fold_of(r["group"]) == k]
            W, Wd, b = train(design(tr), tr, l2=args.l2, iters=args.iters)
            res.append(evaluate(quantise(W, Wd, b), va))
            print(f"fold {k}: {res[-1]}", file=sys.stderr)
        print({k: round(sum(r[k] for r in res) / len(res), 3) for k in res[0]})
        return
    W, Wd, b = train(design(rows), rows, l2=args.l2, iters=args.iters)
    model = quantise(W, Wd, b)
    with open(args.train, "rb") as f:
        data_sha = hashlib.sha256(f.read()).hexdigest()[:16]
    out = os.path.join(ROOT, "src/router/model.bin")
    write_model(model, out, {"train_rows": len(rows), "train_sha256_16": data_sha,
                             "l2": args.l2, "iters": args.iters})
    print("training set (optimistic, trained on):", evaluate(model, rows), file=sys.stderr)
    fixture = []
    for p in PARITY_PROMPTS:
        ft = Features(p)
        fixture.append({"prompt": p, "logits": infer(model, ft), "dense": ft.dense,
                        "n_char": ft.n_char, "n_word": ft.n_word})
    os.makedirs(os.path.join(ROOT, "src/router/testdata"), exist_ok=True)
    with open(os.path.join(ROOT, "src/router/testdata/parity.json"), "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {out} ({os.path.getsize(out)} bytes)", file=sys.stderr)
    write_rule_fixture()
    for p in args.eval:
        report(model, p)


if __name__ == "__main__":
    main()
