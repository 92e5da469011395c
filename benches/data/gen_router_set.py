#!/usr/bin/env python3
"""Generates a labelled held-out set for `stav-gateway eval-router` (stdlib only, deterministic).

Sensitive rows carry checksum-valid identifiers (IBAN mod-97, Luhn cards, Dutch BSN, Polish
PESEL, Spanish DNI, Italian codice fiscale, Swedish personnummer) or secrets, in several EU
languages; hard negatives carry the same shapes with a broken check digit, or prose that mentions
code words. Code rows cover many languages. Usage: gen_router_set.py [N] > file.jsonl
"""

import json
import random
import string
import sys

R = random.Random(20261126)


def luhn_digit(body):
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return str((10 - total % 10) % 10)


def card(valid=True):
    body = R.choice(["4", "51", "52", "53", "54", "55"])
    body += "".join(R.choice(string.digits) for _ in range(15 - len(body)))
    num = body + luhn_digit(body)
    if not valid:
        num = num[:-1] + str((int(num[-1]) + 1) % 10)
    return " ".join(num[i:i + 4] for i in range(0, 16, 4))


def iban(valid=True):
    country = R.choice(["DE", "NL", "FR", "IT", "ES", "BE", "AT", "PL"])
    lens = {"DE": 18, "NL": 14, "FR": 23, "IT": 23, "ES": 20, "BE": 12, "AT": 16, "PL": 24}
    bban = "".join(R.choice(string.digits) for _ in range(lens[country]))
    if country == "NL":
        bban = "".join(R.choice(string.ascii_uppercase) for _ in range(4)) + bban[4:]
    rearranged = bban + country + "00"
    num = int("".join(str(int(c, 36)) for c in rearranged))
    check = 98 - num % 97
    if not valid:
        check = (check % 97) + 1 if check < 97 else 2
    s = f"{country}{check:02d}{bban}"
    return " ".join(s[i:i + 4] for i in range(0, len(s), 4))


def bsn(valid=True):
    while True:
        d = [R.randint(0, 9) for _ in range(8)]
        s = sum((9 - i) * x for i, x in enumerate(d))
        last = s % 11
        if last <= 9 and s != 0:
            if not valid:
                last = (last + 1) % 10
            return "".join(map(str, d)) + str(last)


def pesel(valid=True):
    y, m, day = R.randint(50, 99), R.randint(1, 12), R.randint(1, 28)
    d = [int(c) for c in f"{y:02d}{m:02d}{day:02d}"] + [R.randint(0, 9) for _ in range(4)]
    w = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3]
    c = (10 - sum(a * b for a, b in zip(d, w)) % 10) % 10
    if not valid:
        c = (c + 1) % 10
    return "".join(map(str, d)) + str(c)


def dni(valid=True):
    n = R.randint(10000000, 99999999)
    letter = "TRWAGMYFPDXBNJZSQVHLCKE"[n % 23]
    if not valid:
        letter = "TRWAGMYFPDXBNJZSQVHLCKE"[(n + 1) % 23]
    return f"{n}{letter}"


def codice_fiscale(valid=True):
    odd = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23]
    s = ("".join(R.choice(string.ascii_uppercase) for _ in range(6)) + f"{R.randint(40, 99)}"
         + R.choice("ABCDEHLMPRST") + f"{R.randint(1, 28):02d}" + R.choice("ABCDEFGHILM") + f"{R.randint(100, 999)}")
    total = 0
    for i, ch in enumerate(s):
        v = int(ch) if ch.isdigit() else ord(ch) - 65
        total += odd[v] if i % 2 == 0 else v
    check = chr(65 + total % 26)
    if not valid:
        check = chr(65 + (total + 1) % 26)
    return s + check


def personnummer(valid=True):
    body = f"{R.randint(50, 99)}{R.randint(1, 12):02d}{R.randint(1, 28):02d}{R.randint(100, 999)}"
    last = luhn_digit(body)
    if not valid:
        last = str((int(last) + 1) % 10)
    return f"{body[:6]}-{body[6:]}{last}"


def secret():
    alnum = string.ascii_letters + string.digits
    return R.choice([
        "sk-proj-" + "".join(R.choice(alnum) for _ in range(32)),
        "AKIA" + "".join(R.choice(string.ascii_uppercase + string.digits) for _ in range(16)),
        "ghp_" + "".join(R.choice(alnum) for _ in range(36)),
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEow" + "".join(R.choice(alnum) for _ in range(40)),
    ])


SENSITIVE = [
    ("en", "Please transfer the refund to my account {iban}, thanks.", iban, "iban"),
    ("de", "Bitte überweisen Sie die Kaution auf mein Konto {iban}.", iban, "iban"),
    ("fr", "Pouvez-vous rembourser sur mon compte {iban} ?", iban, "iban"),
    ("en", "My card {card} was charged twice, how do I dispute it?", card, "card"),
    ("it", "La mia carta {card} è stata addebitata due volte.", card, "card"),
    ("nl", "Mijn BSN is {bsn}, kun je het formulier invullen?", bsn, "national_id"),
    ("pl", "Mój PESEL to {pesel}, pomóż mi wypełnić wniosek.", pesel, "national_id"),
    ("es", "Mi DNI es {dni} y necesito renovar el pasaporte.", dni, "national_id"),
    ("it", "Il mio codice fiscale è {cf}, compila il modulo per favore.", codice_fiscale, "national_id"),
    ("sv", "Mitt personnummer är {pnr}, hjälp mig med blanketten.", personnummer, "national_id"),
    ("en", "Why does my deploy fail? I set OPENAI_API_KEY={secret} in the CI variables.", secret, "secret"),
    ("en", "Write to me at {name}.{surname}@example.eu about the invoice.", None, "email"),
]
NEAR_MISS = [
    ("en", "Is {iban} a valid IBAN format? It was rejected by the bank form.", iban),
    ("en", "Our order reference {card} does not show up in the tracking page.", card),
    ("nl", "Ticketnummer {bsn} is gesloten, waarom?", bsn),
    ("pl", "Numer zamówienia {pesel} nie działa w systemie.", pesel),
    ("es", "El código de producto {dni} no aparece en el catálogo.", dni),
]
CODE = [
    ("python", "Write a Python function that merges two sorted lists without using sort()."),
    ("rust", "In Rust, why does `let v: Vec<u8> = s.bytes().collect();` need the type annotation?"),
    ("js", "Fix this JavaScript: `const total = items.reduce((a, b) => a + b.price);` returns NaN."),
    ("sql", "Write a SQL query that returns the top 5 customers by revenue per country."),
    ("go", "```go\nfunc main() {\n    ch := make(chan int)\n    ch <- 1\n}\n```\nWhy does this deadlock?"),
    ("java", "Exception in thread \"main\" java.lang.NullPointerException at App.main(App.java:12) — what is wrong?"),
    ("bash", "Give me a bash one-liner that renames all .jpeg files to .jpg in a folder."),
    ("css", "How do I make a CSS grid with three equal columns that collapses to one on mobile?"),
    ("it", "Scrivi una funzione Python che conta le parole in un file di testo."),
    ("de", "Schreib eine Funktion in TypeScript, die eine E-Mail-Adresse validiert."),
]
PROSE_WITH_CODE_WORDS = [
    "Our python escaped from its terrarium last night; what should we do?",
    "Recommend a good Java coffee blend for a French press.",
    "How do I get rust off an old cast-iron pan?",
    "Write a short story about a ruby necklace that goes missing at a wedding.",
    "In class we learned that a function maps each input to exactly one output; explain with an example.",
    "What is the capital of Estonia and what language is spoken there?",
    "Give me three tips to stay focused when working from home.",
    "Translate 'good morning, how are you?' into Dutch.",
]
NAMES = ["anna", "lukas", "marie", "jan", "sofia", "pieter"]


def rows(n):
    out = []
    while len(out) < n:
        kind = R.random()
        if kind < 0.4:
            lang, tpl, gen, ent = R.choice(SENSITIVE)
            val = gen() if gen else None
            prompt = tpl.format(iban=val, card=val, bsn=val, pesel=val, dni=val, cf=val, pnr=val, secret=val,
                                name=R.choice(NAMES), surname=R.choice(NAMES))
            code = ent == "secret"
            out.append({"prompt": prompt, "sensitive": True, "entities": [ent], "code": code, "lang": lang})
        elif kind < 0.6:
            lang, tpl, gen = R.choice(NEAR_MISS)
            v = gen(valid=False)
            out.append({"prompt": tpl.format(iban=v, card=v, bsn=v, pesel=v, dni=v), "sensitive": False,
                        "entities": [], "code": False, "lang": lang})
        elif kind < 0.8:
            lang, p = R.choice(CODE)
            out.append({"prompt": p, "sensitive": False, "entities": [], "code": True, "lang": lang})
        else:
            out.append({"prompt": R.choice(PROSE_WITH_CODE_WORDS), "sensitive": False, "entities": [],
                        "code": False, "lang": "en"})
    return out


if __name__ == "__main__":
    for row in rows(int(sys.argv[1]) if len(sys.argv) > 1 else 2000):
        print(json.dumps(row, ensure_ascii=False))
