#!/usr/bin/env python3
"""Builds the first-name lexicon the sensitivity scan uses (src/sensitive/data/first_names.txt).

Source: the first-name lists of Faker's person providers (MIT licence, https://github.com/joke2k/faker),
for every EU/EEA locale, the UK, Ireland and Switzerland. Names are NFKC-normalised, lower-cased,
deduplicated and sorted (the order an `fst` set needs); names shorter than three letters and
names that are also common words in the 12 scanned languages (STOP) are left out, because a name
only counts where it stands next to contact, health or id data and a common word there would be a
false positive. Run with a Faker installed: `python3 benches/data/gen_first_names.py`; the Rust
side rebuilds its fst set from the text file (see src/sensitive/names.rs).
"""

import importlib
import pathlib
import unicodedata

LOCALES = [
    "bg_BG", "cs_CZ", "da_DK", "de_AT", "de_CH", "de_DE", "de_LI", "de_LU", "el_GR", "en_GB", "en_IE",
    "es_ES", "et_EE", "fi_FI", "fr_BE", "fr_CH", "fr_FR", "ga_IE", "hr_HR", "hu_HU", "is_IS", "it_IT",
    "lt_LT", "lv_LV", "nl_BE", "nl_NL", "no_NO", "pl_PL", "pt_PT", "ro_RO", "sk_SK", "sl_SI", "sv_SE",
]

# Names that are also everyday words (or pronouns, months, weekdays) in a scanned language.
STOP = set("""
will may mark rose grace hope joy faith page art bill don van von del der den die das les des los
las el la le il lo de da di do du per mia una vita viva vera paz luz sol mar rosa flor alba aurora
gloria victoria mercedes dolores consuelo pilar carmen angel socorro remedios asuncion concepcion
amparo esperanza salud milagros estrella caridad nieves luna linda bella bianca liv hans kai tuuli
onni iris dom berg borg strom holm lund dahl amber ruby summer autumn dawn sunny honey cherry jack
frank sandy dale glen lane gay major king prince earl duke bishop sue pat rob max august april june
julie january march october november december sunday monday friday domingo lunes martes sabado
vendredi samedi dimanche giovedi christmas noel pascal easter mine min mitt unity constance prudence
patience charity mercy verity honor honour
""".split())


def names_of(mod):
    out = []
    for attr in ("first_names", "first_names_male", "first_names_female", "first_names_nonbinary"):
        v = getattr(mod.Provider, attr, None)
        if v is None:
            continue
        out.extend(v.keys() if isinstance(v, dict) else v)
    return out


def main():
    names = set()
    for loc in LOCALES:
        try:
            mod = importlib.import_module(f"faker.providers.person.{loc}")
        except ImportError:
            continue
        for n in names_of(mod):
            n = unicodedata.normalize("NFKC", n).strip().lower()
            if len(n) < 3 or not all(c.isalpha() or c in "-'" for c in n):
                continue
            if n in STOP:
                continue
            names.add(n)
    out = pathlib.Path(__file__).resolve().parents[2] / "src/sensitive/data/first_names.txt"
    # Byte order (what fst needs), one name a line.
    data = sorted(n.encode("utf-8") for n in names)
    out.write_bytes(b"\n".join(data) + b"\n")
    print(f"{len(data)} names -> {out}")


if __name__ == "__main__":
    main()
