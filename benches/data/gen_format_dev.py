#!/usr/bin/env python3
"""Generated development set for the sensitivity scan's format detectors (phones, postal addresses,
national ids), written from format SPECIFICATIONS, not from collected prompts.

- Phones: each country's national numbering plan (mobile and geographic ranges, lengths, trunk
  prefix or none) in its common written groupings, and the international forms `+CC` / `00CC`.
  Mobile numbers appear with or without a phone word; geographic numbers only with one.
- Addresses: street and house number in each country's order and house-number forms (letters,
  ranges, `1234/56`, `12/34 m. 5`, `10/B`, `5 B`, `12 bis`, `3º 2ª`, Flat n), postcode + city in
  the country's postcode shape, UK multi-line envelope layouts.
- National ids: random valid numbers (check digits computed here) in the separator spellings
  people type.
- Hard negatives: order numbers, invoice references, dates, amounts, versions, arithmetic,
  IBAN-shaped but invalid strings, public company addresses with an imprint word.

Deterministic (seeded). Rows: {"prompt", "lang", "sensitive", "entities"}.

Usage: gen_format_dev.py [OUT]   (default benches/data/format-dev.jsonl)
"""

import json
import random
import sys

R = random.Random(1207)

LANGS = ["en", "de", "fr", "es", "it", "nl", "pl", "da", "cs", "pt", "sv", "fi"]


def digs(n, first=None):
    s = "".join(str(R.randrange(10)) for _ in range(n))
    if first is not None:
        s = str(first) + s[1:]
    return s


def pick(xs):
    return R.choice(xs)


# ---------------------------------------------------------------------------------------------
# Phones: (country, kind) -> national significant digits and written forms.
# kind "m" = mobile (counts alone), "g" = geographic (needs a phone word).


def group(s, sizes, sep=" "):
    out, i = [], 0
    for k in sizes:
        out.append(s[i:i + k])
        i += k
    if i < len(s):
        out.append(s[i:])
    return sep.join(x for x in out if x)


def phone_gb(kind):
    if kind == "m":
        n = "07" + str(R.choice([4, 5, 7, 8, 9])) + digs(8)
        nat = pick([group(n, [5, 6]), group(n, [5, 3, 3]), n, group(n, [4, 3, 4])])
        intl = "+44 " + group(n[1:], [4, 6])
    else:
        a = pick(["020", "0113", "0117", "0121", "0131", "0141", "0161", "01632", "01223"])
        if a == "020":
            n = a + pick(["7", "3", "8"]) + digs(7)
            nat = pick([group(n, [3, 4, 4]), "(020) " + group(n[3:], [4, 4]), group(n, [3, 8])])
            intl = pick(["+44 20 " + group(n[3:], [4, 4]), "+44 (0)20 " + group(n[3:], [4, 4])])
        else:
            n = a + digs(11 - len(a), first=R.choice([2, 3, 4, 9]))
            nat = pick([a + " " + group(n[len(a):], [3, 4]), "(" + a + ") " + n[len(a):],
                        a + " " + n[len(a):]])
            intl = "+44 " + a[1:] + " " + n[len(a):]
    return nat, intl


def phone_ie(kind):
    if kind == "m":
        n = "08" + str(R.choice([3, 5, 6, 7, 9])) + digs(7, first=R.randrange(1, 10))
        return pick([group(n, [3, 3, 4]), group(n, [3, 7]), n]), "+353 " + group(n[1:], [2, 3, 4])
    n = "01" + digs(7, first=R.randrange(2, 10))
    return pick([group(n, [2, 3, 4]), "(01) " + group(n[2:], [3, 4])]), "+353 1 " + group(n[2:], [3, 4])


def phone_de(kind):
    if kind == "m":
        p = pick(["0151", "0152", "0157", "0160", "0162", "0170", "0171", "0172", "0175", "0176",
                  "0177", "0178", "0179", "01512", "01520"])
        n = p + digs(11 - len(p) if len(p) == 4 else 11 - len(p), first=R.randrange(1, 10))
        nat = pick([p + " " + n[len(p):], p + "-" + n[len(p):], p + "/" + n[len(p):],
                    p + " " + group(n[len(p):], [3, 4]), "(" + p + ") " + n[len(p):], n,
                    p + " " + group(n[len(p):], [2, 2, 2, 2])])
        return nat, pick(["+49 " + n[1:4] + " " + n[4:], "+49 (0)" + n[1:4] + " " + n[4:],
                          "0049 " + n[1:4] + " " + n[4:]])
    a = pick(["030", "040", "089", "069", "0221", "0211", "0711", "0351", "0341", "0911", "06221"])
    n = a + digs(11 - len(a), first=R.randrange(2, 10))
    s = n[len(a):]
    nat = pick([a + " " + s, a + "/" + s, a + "-" + s, "(" + a + ") " + s, a + " " + group(s, [4, 4]),
                a + " / " + s, a + " " + group(s, [2, 2, 2, 2])])
    return nat, pick(["+49 " + a[1:] + " " + s, "+49 (0)" + a[1:] + " " + s, "0049 " + a[1:] + " " + s])


def phone_at(kind):
    if kind == "m":
        p = pick(["0650", "0660", "0664", "0676", "0680", "0681", "0688", "0699"])
        n = p + digs(7, first=R.randrange(1, 10))
        return pick([p + " " + n[4:], p + "/" + n[4:], p + " " + group(n[4:], [3, 4])]), "+43 " + n[1:4] + " " + n[4:]
    n = "01" + digs(7, first=R.randrange(2, 10))
    return pick(["01 " + group(n[2:], [3, 2, 2]), "01/" + n[2:]]), "+43 1 " + n[2:]


def phone_ch(kind):
    if kind == "m":
        p = pick(["075", "076", "077", "078", "079"])
    else:
        p = pick(["021", "022", "031", "044", "043", "061", "071", "091"])
    n = p + digs(7, first=R.randrange(2, 10))
    return pick([group(n, [3, 3, 2, 2]), group(n, [3, 3, 2, 2], "."), "+41 " + group(n[1:], [2, 3, 2, 2])]), \
        "+41 " + group(n[1:], [2, 3, 2, 2])


def phone_fr(kind):
    p = pick(["06", "07"]) if kind == "m" else pick(["01", "02", "03", "04", "05", "09"])
    n = p + digs(8, first=R.randrange(1, 10))
    nat = pick([group(n, [2, 2, 2, 2, 2]), group(n, [2, 2, 2, 2, 2], "."), group(n, [2, 2, 2, 2, 2], "-"), n])
    return nat, pick(["+33 " + n[1] + " " + group(n[2:], [2, 2, 2, 2]), "+33 (0)" + n[1] + " " + group(n[2:], [2, 2, 2, 2]),
                      "0033 " + n[1] + " " + group(n[2:], [2, 2, 2, 2])])


def phone_be(kind):
    if kind == "m":
        p = pick(["0470", "0471", "0472", "0475", "0476", "0477", "0478", "0479", "0484", "0486",
                  "0488", "0494", "0495", "0496", "0497", "0498", "0499"])
        n = p + digs(6)
        return pick([p + " " + group(n[4:], [2, 2, 2]), p + "/" + group(n[4:], [2, 2, 2], "."), p + " " + n[4:]]), \
            "+32 " + n[1:4] + " " + group(n[4:], [2, 2, 2])
    n = "02" + digs(7, first=R.randrange(2, 10))
    return pick(["02 " + group(n[2:], [3, 2, 2]), "02/" + group(n[2:], [3, 2, 2], ".")]), "+32 2 " + group(n[2:], [3, 2, 2])


def phone_es(kind):
    if kind == "m":
        n = pick(["6", "7"]) + digs(8)
        if n[0] == "7":
            n = "7" + str(R.randrange(1, 5)) + n[2:]
        nat = pick([group(n, [3, 3, 3]), group(n, [3, 2, 2, 2]), group(n, [3, 3, 3], "-"), group(n, [3, 3, 3], ".")])
    else:
        n = pick(["91", "93", "95", "96", "94"]) + digs(7, first=R.randrange(2, 10))
        nat = pick([group(n, [2, 3, 2, 2]), group(n, [3, 3, 3]), n])
    return nat, pick(["+34 " + group(n, [3, 3, 3]), "0034 " + group(n, [3, 3, 3]), "+34 " + n])


def phone_it(kind):
    if kind == "m":
        p = pick(["320", "328", "329", "330", "333", "335", "338", "339", "340", "345", "347",
                  "348", "349", "351", "366", "380", "388", "392"])
        n = p + digs(7)
        nat = pick([p + " " + n[3:], p + " " + group(n[3:], [3, 4]), p + "-" + n[3:], p + "/" + n[3:],
                    p + "." + group(n[3:], [3, 4], "."), n])
    else:
        a = pick(["02", "06", "011", "055", "081", "051", "041"])
        n = a + digs(10 - len(a), first=R.randrange(2, 10))
        nat = pick([a + " " + n[len(a):], a + " " + group(n[len(a):], [4, 4]), a + "/" + n[len(a):],
                    a + "-" + n[len(a):], "(" + a + ") " + n[len(a):]])
    return nat, pick(["+39 " + group(n, [3, 3, 4]), "+39 " + n, "0039 " + n])


def phone_nl(kind):
    if kind == "m":
        n = "06" + digs(8, first=R.randrange(1, 6))
        nat = pick(["06-" + n[2:], "06 " + n[2:], "06 " + group(n[2:], [4, 4]), "06 " + group(n[2:], [2, 2, 2, 2]), n,
                    "(06) " + n[2:]])
        return nat, pick(["+31 6 " + n[2:], "+31 (0)6 " + n[2:], "0031 6 " + n[2:]])
    a = pick(["020", "010", "030", "070", "040", "050", "0591", "0575"])
    n = a + digs(10 - len(a), first=R.randrange(2, 10))
    s = n[len(a):]
    return pick([a + "-" + s, a + " " + s, "(" + a + ") " + s, a + " " + group(s, [3, 4]) if len(s) == 7 else a + " " + group(s, [3, 3])]), \
        "+31 " + a[1:] + " " + s


def phone_pl(kind):
    if kind == "m":
        n = pick(["50", "51", "53", "57", "60", "66", "69", "72", "73", "78", "79", "88"]) + digs(7)
        nat = pick([group(n, [3, 3, 3]), group(n, [3, 3, 3], "-"), n])
    else:
        a = pick(["22", "12", "61", "71", "58", "42"])
        n = a + digs(7, first=R.randrange(2, 10))
        nat = pick([a + " " + group(n[2:], [3, 2, 2]), "(" + a + ") " + group(n[2:], [3, 2, 2]), a + "-" + group(n[2:], [3, 2, 2], "-")])
    return nat, pick(["+48 " + group(n, [3, 3, 3]), "0048 " + group(n, [3, 3, 3]), "+48 " + n])


def phone_dk(kind):
    n = (pick(["2", "3", "4", "5", "6", "7", "8", "9"]) if kind == "m" else pick(["3", "4", "7", "8", "9"])) + digs(7)
    if kind == "m":
        n = pick(["20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31", "40", "41",
                  "42", "50", "51", "52", "53", "60", "61", "71", "81", "91", "93"]) + digs(6)
    nat = pick([group(n, [2, 2, 2, 2]), group(n, [4, 4]), n])
    return nat, pick(["+45 " + group(n, [2, 2, 2, 2]), "0045 " + n, "+45 " + n])


def phone_no(kind):
    n = (pick(["4", "9"]) if kind == "m" else pick(["22", "23", "55", "73"])) + digs(7)
    n = n[:8]
    return pick([group(n, [3, 2, 3]), group(n, [2, 2, 2, 2]), n]), "+47 " + group(n, [3, 2, 3])


def phone_cz(kind):
    if kind == "m":
        n = pick(["60", "70", "72", "73", "77", "79"]) + digs(7)
    else:
        n = pick(["2", "3", "5"]) + digs(8)
    return pick([group(n, [3, 3, 3]), n]), pick(["+420 " + group(n, [3, 3, 3]), "00420 " + group(n, [3, 3, 3]), "+420 " + n])


def phone_sk(kind):
    if kind == "m":
        n = "09" + pick(["01", "02", "03", "04", "05", "06", "07", "08", "10", "11", "14", "15", "16", "17", "40", "44", "48", "49"]) + digs(6)
        return pick([group(n, [4, 3, 3]), n]), "+421 " + group(n[1:], [3, 3, 3])
    n = "02" + digs(8, first=R.randrange(2, 7))
    return pick(["02/" + group(n[2:], [3, 3, 2]), "02 " + group(n[2:], [4, 4])]), "+421 2 " + group(n[2:], [4, 4])


def phone_pt(kind):
    if kind == "m":
        n = pick(["91", "92", "93", "96"]) + digs(7)
    else:
        n = pick(["21", "22", "23", "25", "28", "29"]) + digs(7, first=R.randrange(1, 10))
    return pick([group(n, [3, 3, 3]), n, group(n, [2, 3, 2, 2]) if kind == "g" else group(n, [3, 3, 3])]), \
        pick(["+351 " + group(n, [3, 3, 3]), "00351 " + n, "+351 " + n])


def phone_se(kind):
    if kind == "m":
        n = "07" + pick(["0", "2", "3", "6", "9"]) + digs(7)
        nat = pick([n[:3] + "-" + group(n[3:], [3, 2, 2]), n[:3] + " " + group(n[3:], [3, 2, 2]), n[:3] + "-" + n[3:], n])
        return nat, "+46 " + n[1:3] + " " + group(n[3:], [3, 2, 2])
    a = pick(["08", "031", "040", "018", "013", "090"])
    n = a + digs(10 - len(a) if a == "08" else 9 - len(a) + 1, first=R.randrange(1, 10))
    s = n[len(a):]
    nat = pick([a + "-" + group(s, [3, 2, 2] if len(s) == 7 else [3, 3, 2]), a + "-" + s, a + " " + group(s, [2, 2, 2] if len(s) == 6 else [3, 2, 2])])
    return nat, "+46 " + a[1:] + " " + s


def phone_fi(kind):
    if kind == "m":
        p = pick(["040", "041", "044", "045", "046", "050"])
        n = p + digs(7)
        nat = pick([p + " " + n[3:], p + " " + group(n[3:], [3, 4]), p + "-" + n[3:], n])
        return nat, pick(["+358 " + p[1:] + " " + group(n[3:], [3, 4]), "+358 " + p[1:] + " " + n[3:]])
    a = pick(["09", "02", "03", "017", "014"])
    n = a + digs(7 if len(a) == 2 else 6, first=R.randrange(2, 10))
    s = n[len(a):]
    return pick([a + " " + s, a + " " + group(s, [3, 4]) if len(s) == 7 else a + " " + group(s, [3, 3]), a + "-" + s]), \
        "+358 " + a[1:] + " " + s


PHONES = {
    "en": [phone_gb, phone_ie], "de": [phone_de, phone_at, phone_ch], "fr": [phone_fr, phone_be, phone_ch],
    "es": [phone_es], "it": [phone_it, phone_ch], "nl": [phone_nl, phone_be], "pl": [phone_pl],
    "da": [phone_dk, phone_no], "cs": [phone_cz, phone_sk], "pt": [phone_pt], "sv": [phone_se],
    "fi": [phone_fi],
}

# Phrases that introduce a number as a phone ({p}), and phrases without a phone word.
PHONE_CTX = {
    "en": ["Please call me on {p} after 6pm.", "My phone number is {p}, text me when the parcel arrives.",
           "Add this to the contact card: tel. {p}", "You can reach me at {p} if anything is unclear.",
           "Rewrite this more politely: 'Ring me on {p} or don't bother.'"],
    "de": ["Meine Telefonnummer ist {p}, bitte ruf mich an.", "Du erreichst mich unter {p} (Festnetz).",
           "Schreib eine kurze Nachricht: Ruf mich bitte unter {p} zurück.", "Tel.: {p} – bitte in die Signatur übernehmen.",
           "Handy: {p}. Formuliere daraus eine Abwesenheitsnotiz."],
    "fr": ["Mon numéro de téléphone est le {p}, rappelez-moi demain.", "Vous pouvez me joindre au {p}.",
           "Tél. : {p} — mets ça dans ma signature d'e-mail.", "Appelez-moi au {p} pour le rendez-vous."],
    "es": ["Mi teléfono es {p}, llámame por la tarde.", "Puedes llamar al {p} para confirmar la cita.",
           "Tel.: {p}. Redacta un correo para el casero.", "Mi móvil es el {p}, escríbeme por WhatsApp."],
    "it": ["Il mio numero di telefono è {p}, chiamami dopo le 18.", "Chiamami al {p} per la consegna.",
           "Tel. {p} — aggiungilo alla firma della mail.", "Il mio cellulare: {p}. Scrivi un messaggio al padrone di casa."],
    "nl": ["Mijn telefoonnummer is {p}, bel me na zessen.", "Je kunt me bereiken op {p}.",
           "Tel.: {p} – zet dit onder mijn e-mail.", "Bel me even op {p} als het pakket er is."],
    "pl": ["Mój numer telefonu to {p}, zadzwoń wieczorem.", "Proszę dzwonić pod numer {p}.",
           "Tel. {p} — dopisz to do stopki maila.", "Zadzwoń do mnie: {p}."],
    "da": ["Mit telefonnummer er {p}, ring til mig i aften.", "Du kan ringe til mig på {p}.",
           "Tlf. {p} – skriv det i min signatur.", "Ring mig op på {p} når pakken er kommet."],
    "cs": ["Moje telefonní číslo je {p}, zavolejte mi večer.", "Zavolejte mi na {p}.",
           "Tel.: {p} — dej to do podpisu e-mailu.", "Volejte na číslo {p} kvůli předání bytu."],
    "pt": ["O meu telefone é {p}, ligue-me à tarde.", "Pode ligar-me para o {p}.",
           "Tel.: {p} — põe isto na assinatura do e-mail.", "O meu telemóvel é {p}, manda mensagem."],
    "sv": ["Mitt telefonnummer är {p}, ring mig i kväll.", "Du når mig på {p}.",
           "Tel. {p} – lägg in det i min signatur.", "Ring mig på {p} när paketet har kommit."],
    "fi": ["Puhelinnumeroni on {p}, soita illalla.", "Voit soittaa minulle numeroon {p}.",
           "Puh. {p} – lisää tämä sähköpostin allekirjoitukseen.", "Soita minulle numeroon {p} kun paketti tulee."],
}
PHONE_BARE = {
    "en": ["Translate into German: 'I'm on {p} all week, send me the address there.'",
           "Draft a text to my landlord saying the plumber is coming, and sign it Jamie, {p}."],
    "de": ["Schreib an den Vermieter, dass der Handwerker morgen kommt. Unterschrift: Jonas, {p}.",
           "Formatiere diese Kontaktliste als Tabelle: Lena Weber {p}, Paul Graf."],
    "fr": ["Rédige un SMS pour dire que j'arrive en retard, signé Claire {p}.",
           "Mets en forme cette liste : Julien Morel {p}, Inès Garnier."],
    "es": ["Escribe un mensaje al casero diciendo que llega el fontanero; firma: Lucía, {p}.",
           "Ordena esta lista de contactos: Pablo Ruiz {p}, Marta Gil."],
    "it": ["Scrivi un messaggio al padrone di casa che arriva l'idraulico; firma: Luca, {p}.",
           "Formatta questa lista: Chiara Conti {p}, Marco Gallo."],
    "nl": ["Schrijf een berichtje aan de verhuurder dat de loodgieter komt; groet, Daan {p}.",
           "Zet deze lijst in een tabel: Sanne Bakker {p}, Tim de Wit."],
    "pl": ["Napisz wiadomość do właściciela mieszkania, że hydraulik przyjdzie jutro; podpis: Ola, {p}.",
           "Sformatuj tę listę: Piotr Nowak {p}, Anna Wójcik."],
    "da": ["Skriv en besked til udlejeren om at blikkenslageren kommer; hilsen Mads, {p}.",
           "Lav en tabel af listen: Sofie Jensen {p}, Emil Larsen."],
    "cs": ["Napiš zprávu pronajímateli, že zítra přijde instalatér; podpis: Jana, {p}.",
           "Udělej tabulku z tohoto seznamu: Petr Novák {p}, Eva Dvořák."],
    "pt": ["Escreve uma mensagem ao senhorio a dizer que o canalizador vem amanhã; assina Rita, {p}.",
           "Formata esta lista: João Silva {p}, Ana Costa."],
    "sv": ["Skriv ett sms till hyresvärden att rörmokaren kommer i morgon; hälsningar Elin, {p}.",
           "Gör en tabell av listan: Oskar Lind {p}, Maja Berg."],
    "fi": ["Kirjoita viesti vuokranantajalle, että putkimies tulee huomenna; terveisin Aino, {p}.",
           "Tee taulukko listasta: Mikko Korhonen {p}, Laura Virtanen."],
}

# ---------------------------------------------------------------------------------------------
# Addresses per country format.

STREETS = {
    "gb": ["Mulberry Road", "Church Lane", "Victoria Street", "Hawthorn Close", "Station Road", "Elm Grove", "Park Avenue", "Kings Crescent"],
    "de": ["Lindenstraße", "Hauptstraße", "Goethestr.", "Bahnhofstraße", "Am Markt", "Berliner Straße", "Schillerweg", "Rosengasse"],
    "at": ["Mariahilfer Straße", "Landstraßer Hauptstraße", "Herrengasse"],
    "ch": ["Bahnhofstrasse", "Seefeldstrasse", "Rue du Rhône"],
    "fr": ["rue des Lilas", "avenue Victor Hugo", "boulevard Voltaire", "allée des Tilleuls", "impasse du Moulin", "chemin des Vignes"],
    "be": ["Rue de la Loi", "Kerkstraat", "Avenue Louise", "Meir"],
    "es": ["Mayor", "Gran Vía", "de Alcalá", "del Carmen", "de Toledo"],
    "it": ["Via Roma", "Via Garibaldi", "Corso Italia", "Viale Monza", "Piazza Mazzini", "Via dei Mille"],
    "nl": ["Kerkstraat", "Prinsengracht", "Dorpsstraat", "Molenweg", "Stationsplein", "Van Baerlestraat"],
    "pl": ["ul. Marszałkowska", "ul. Długa", "ul. Polna", "al. Jana Pawła II", "os. Piastów", "ul. Kwiatowa"],
    "dk": ["Nørregade", "Vesterbrogade", "Østergade", "Strandvejen", "Ryesgade"],
    "no": ["Storgata", "Kirkeveien", "Thereses gate", "Bogstadveien"],
    "cz": ["Vodičkova", "Na Příkopě", "Dlouhá", "Masarykova", "Husova", "Nádražní"],
    "sk": ["Obchodná", "Štúrova", "Hlavná"],
    "pt": ["Rua Augusta", "Avenida da Liberdade", "Rua do Carmo", "Travessa da Rosa", "Rua de Santa Catarina"],
    "se": ["Storgatan", "Drottninggatan", "Kungsgatan", "Västra vägen", "Sveavägen", "Götgatan"],
    "fi": ["Mannerheimintie", "Hämeenkatu", "Aleksanterinkatu", "Koivukuja", "Rantatie"],
}
CITIES = {
    "de": ["Berlin", "Köln", "München", "Leipzig"], "at": ["Wien", "Graz"], "ch": ["Zürich", "Bern", "Genève"],
    "fr": ["Paris", "Lyon", "Nantes"], "be": ["Bruxelles", "Antwerpen", "Gent"], "es": ["Madrid", "Sevilla", "Valencia"],
    "it": ["Roma", "Milano", "Torino"], "nl": ["Amsterdam", "Utrecht", "Rotterdam"], "pl": ["Warszawa", "Kraków", "Gdańsk"],
    "dk": ["København K", "Aarhus C", "Odense"], "no": ["Oslo", "Bergen"], "cz": ["Praha 1", "Brno", "Ostrava"],
    "sk": ["Bratislava", "Košice"], "pt": ["Lisboa", "Porto"], "se": ["Stockholm", "Göteborg", "Malmö"],
    "fi": ["Helsinki", "Tampere", "Turku"], "gb": ["London", "Bristol", "Leeds", "Manchester"],
}


def hn():
    return str(R.choice([R.randrange(1, 30), R.randrange(1, 200)]))


def gb_postcode():
    return pick(["SW1A 1AA", "EC1A 1BB", "W1A 0AX", "M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT", "LS1 4AP",
                 "BS8 " + str(R.randrange(1, 10)) + pick(["AB", "NX", "QT"]), "E" + str(R.randrange(1, 20)) + " " + str(R.randrange(1, 10)) + "RS"])


def addr(cc):
    s = pick(STREETS[cc])
    city = pick(CITIES[cc])
    n = hn()
    if cc == "gb":
        f = pick([
            "Flat {f}, {n} {s}, {c} {pc}", "{n}{l} {s}, {c} {pc}", "{n} {s}\n{c}\n{pc}", "Flat {f}\n{n} {s}\n{c} {pc}",
            "{n} {s}, {c}", "{n}-{n2} {s}, {c}", "Apartment {f}, {n} {s}, {c}",
        ])
        return f.format(f=R.randrange(1, 20), n=n, n2=int(n) + 2, l=pick(["a", "b", "A"]), s=s, c=city, pc=gb_postcode())
    if cc == "de":
        pc = digs(5, first=R.randrange(0, 10))
        return pick(["{s} {n}{l}, {pc} {c}", "{s} {n}-{m}, {pc} {c}", "{s} {n}\n{pc} {c}", "{s} {n}"]).format(
            s=s, n=n, m=int(n) + 2, l=pick(["a", "b", " a", ""]), pc=pc, c=city)
    if cc == "at":
        return "{s} {n}/{a}/{b}, {pc} {c}".format(s=s, n=n, a=R.randrange(1, 5), b=R.randrange(1, 20),
                                                  pc=pick(["1060", "1030", "8010", "A-1070"]), c=city)
    if cc == "ch":
        return "{s} {n}, {pc} {c}".format(s=s, n=n, pc=pick(["8001", "3011", "1204", "CH-8004"]), c=city)
    if cc == "fr":
        return pick(["{n} {s}, {pc} {c}", "{n} bis {s}, {pc} {c}", "{n}, {s}\n{pc} {c}", "Bât. B, {n} {s}, {pc} {c}",
                     "{n} ter {s}"]).format(n=n, s=s, pc=digs(5, first=R.choice([1, 3, 4, 6, 7])), c=city)
    if cc == "be":
        return pick(["{s} {n}, {pc} {c}", "{s} {n} bus {b}, {pc} {c}", "{s} {n}/{b}, {pc} {c}"]).format(
            s=s, n=n, b=R.randrange(1, 20), pc=digs(4, first=R.randrange(1, 10)), c=city)
    if cc == "es":
        word = pick(["Calle", "c/", "C/", "Avda.", "Avenida", "Paseo", "Plaza"])
        return pick(["{w} {s} {n}, {p}º {d}ª, {pc} {c}", "{w} {s}, {n}, {p}º{d2}, {pc} {c}", "{w} {s} {n}, {pc} {c}",
                     "{w} {s} nº {n}, {p}º {d2}"]).format(
            w=word, s=s, n=n, p=R.randrange(1, 9), d=R.randrange(1, 5), d2=pick(["A", "B", "izq.", "dcha."]),
            pc=digs(5, first=R.choice([0, 2, 4])), c=city)
    if cc == "it":
        return pick(["{s} {n}/{l}, {pc} {c}", "{s}, {n}, {pc} {c} ({pr})", "{s} {n} int. {i}, {pc} {c}", "{s} {n}"]).format(
            s=s, n=n, l=pick(["A", "B", "bis", "3"]), i=R.randrange(1, 20), pc=digs(5, first=R.choice([0, 1, 2])),
            c=city, pr=pick(["RM", "MI", "TO"]))
    if cc == "nl":
        return pick(["{s} {n}{l}, {pc} {c}", "{s} {n}-{r}", "{s} {n} hs, {pc} {c}", "{s} {n}\n{pc} {c}", "{s} {n} bis"]).format(
            s=s, n=n, l=pick(["A", "a", "", "-2"]), r=pick(["III", "2", "hs", "bis"]),
            pc=digs(4, first=R.randrange(1, 10)) + " " + pick(["AB", "GV", "KL", "XR"]), c=city)
    if cc == "pl":
        return pick(["{s} {n}/{f}, {pc} {c}", "{s} {n} m. {f}, {pc} {c}", "{s} {n}/{f} m. {g}", "{s} {n}, {pc} {c}"]).format(
            s=s, n=n, f=R.randrange(1, 80), g=R.randrange(1, 40), pc=digs(2) + "-" + digs(3), c=city)
    if cc == "dk":
        return pick(["{s} {n}, {e}. {side}, {pc} {c}", "{s} {n}{l}, {pc} {c}", "{s} {n} st. tv.", "{s} {n}, {pc} {c}"]).format(
            s=s, n=n, e=R.randrange(1, 6), side=pick(["th.", "tv.", "mf."]), l=pick(["A", "B"]),
            pc=digs(4, first=R.randrange(1, 10)), c=city)
    if cc == "no":
        return pick(["{s} {n}, {pc} {c}", "{s} {n} B, {pc} {c}", "{s} {n}"]).format(
            s=s, n=n, pc=digs(4, first=0), c=city)
    if cc == "cz":
        return pick(["{s} {k}/{n}, {pc} {c}", "{s} {k}/{n}", "{s} {n}, {pc} {c}", "{s} {k}/{n}{l}, {pc} {c}"]).format(
            s=s, k=R.randrange(100, 2500), n=n, l=pick(["a", "b"]), pc=digs(3, first=R.randrange(1, 8)) + " " + digs(2), c=city)
    if cc == "sk":
        return "{s} {k}/{n}, {pc} {c}".format(s=s, k=R.randrange(100, 2500), n=n,
                                              pc=digs(3, first=R.randrange(8, 10)) + " " + digs(2), c=city)
    if cc == "pt":
        return pick(["{s} {n}, {p}º {side}, {pc} {c}", "{s}, n.º {n}, {pc} {c}", "{s} {n} {p}º {d}", "{s} {n}-{p}º"]).format(
            s=s, n=n, p=R.randrange(1, 9), side=pick(["Esq.", "Dto.", "Frt."]), d=pick(["A", "B", "D"]),
            pc=digs(4, first=R.randrange(1, 10)) + "-" + digs(3), c=city)
    if cc == "se":
        return pick(["{s} {n} {l}, {pc} {c}", "{s} {n}, lgh {lgh}, {pc} {c}", "{s} {n}{l2}, {pc} {c}", "{s} {n} {l}"]).format(
            s=s, n=n, l=pick(["A", "B", "C"]), l2=pick(["A", "B"]), lgh=R.randrange(1001, 1404),
            pc=digs(3, first=R.randrange(1, 10)) + " " + digs(2), c=city)
    if cc == "fi":
        return pick(["{s} {n} {l} {a}, {pc} {c}", "{s} {n} as. {a}, {pc} {c}", "{s} {n}, {pc} {c}", "{s} {n} {l} {a}"]).format(
            s=s, n=n, l=pick(["A", "B", "C"]), a=R.randrange(1, 60), pc="0" + digs(4), c=city)
    raise KeyError(cc)


ADDR_CC = {"en": ["gb"], "de": ["de", "at", "ch"], "fr": ["fr", "be", "ch"], "es": ["es"], "it": ["it"], "nl": ["nl", "be"],
           "pl": ["pl"], "da": ["dk", "no"], "cs": ["cz", "sk"], "pt": ["pt"], "sv": ["se"], "fi": ["fi"]}
ADDR_T = {
    "en": ["Write a letter to my new neighbours; our address is {a}.", "Please send the replacement part to {a}.",
           "Format this envelope:\n{a}", "I moved to {a} last week, draft the change-of-address email to my bank."],
    "de": ["Ich bin umgezogen, neue Adresse: {a}. Schreib bitte die Meldung an die Versicherung.",
           "Bitte schicke die Unterlagen an {a}.", "Absender:\n{a}\nFormuliere eine Kündigung des Handyvertrags."],
    "fr": ["Je viens de déménager au {a}, rédige le courrier pour ma banque.", "Envoyez le colis à l'adresse suivante : {a}.",
           "Mon adresse : {a}. Écris une lettre de résiliation."],
    "es": ["Me he mudado a {a}; redacta el aviso para mi banco.", "Envía el paquete a {a}, por favor.",
           "Mi dirección es {a}. Escribe una carta al casero."],
    "it": ["Mi sono trasferito in {a}, scrivi la comunicazione alla banca.", "Spedisci il pacco a {a}.",
           "Il mio indirizzo: {a}. Scrivi una disdetta del contratto."],
    "nl": ["Ik ben verhuisd naar {a}; schrijf de adreswijziging voor mijn bank.", "Stuur het pakket naar {a}.",
           "Mijn adres is {a}. Schrijf een opzegbrief."],
    "pl": ["Przeprowadziłem się na {a}, napisz pismo do banku.", "Proszę wysłać paczkę na adres {a}.",
           "Mój adres: {a}. Napisz wypowiedzenie umowy."],
    "da": ["Jeg er flyttet til {a}; skriv en besked til banken.", "Send pakken til {a}.",
           "Min adresse er {a}. Skriv en opsigelse."],
    "cs": ["Přestěhoval jsem se na adresu {a}, napiš dopis do banky.", "Pošlete balík na {a}.",
           "Moje adresa: {a}. Napiš výpověď smlouvy."],
    "pt": ["Mudei-me para a {a}; escreve a comunicação ao banco.", "Envie a encomenda para {a}.",
           "A minha morada é {a}. Escreve uma carta de rescisão."],
    "sv": ["Jag har flyttat till {a}; skriv ett meddelande till banken.", "Skicka paketet till {a}.",
           "Min adress är {a}. Skriv en uppsägning."],
    "fi": ["Muutin osoitteeseen {a}; kirjoita ilmoitus pankille.", "Lähetä paketti osoitteeseen {a}.",
           "Osoitteeni on {a}. Kirjoita irtisanomisilmoitus."],
}

# ---------------------------------------------------------------------------------------------
# National ids with valid check digits.


def dni():
    n = R.randrange(10**6, 10**8)
    return f"{n:08d}", "TRWAGMYFPDXBNJZSQVHLCKE"[n % 23]


def es_ids():
    num, l = dni()
    k = R.randrange(3)
    nn = R.randrange(10**6, 10**7)
    nl = "TRWAGMYFPDXBNJZSQVHLCKE"[(k * 10**7 + nn) % 23]
    ie = "XYZ"[k]
    return pick([num + l, num + "-" + l, num + " " + l, f"{num[:2]}.{num[2:5]}.{num[5:]}-{l}",
                 f"{ie}{nn:07d}{nl}", f"{ie}-{nn:07d}-{nl}", f"{ie} {nn:07d} {nl}", f"{ie}-{nn:07d}{nl}", f"{ie}{nn:07d}-{nl}"])


def nino():
    a = pick("ABCEGHJKLMNPRSTWXYZ") + pick("ABCEGHJKLMNPRSTWXYZ")
    while a in ("BG", "GB", "NK", "KN", "TN", "NT", "ZZ"):
        a = "AB"
    d = digs(6)
    c = pick("ABCD")
    return pick([f"{a} {d[:2]} {d[2:4]} {d[4:]} {c}", f"{a}{d}{c}", f"{a} {d} {c}", f"{a}-{d[:2]}-{d[2:4]}-{d[4:]}-{c}",
                 f"{a.lower()} {d[:2]} {d[2:4]} {d[4:]} {c.lower()}"])


def nhs():
    while True:
        d = [R.randrange(10) for _ in range(9)]
        c = 11 - sum((10 - i) * x for i, x in enumerate(d)) % 11
        c = 0 if c == 11 else c
        if c != 10:
            s = "".join(map(str, d)) + str(c)
            return pick([f"{s[:3]} {s[3:6]} {s[6:]}", f"{s[:3]}-{s[3:6]}-{s[6:]}"])


def mod_11_10(d):
    p = 10
    for x in d:
        s = (x + p) % 10 or 10
        p = (s * 2) % 11
    return (11 - p) % 10


def de_idnr():
    d = [R.randrange(1, 10)] + [R.randrange(10) for _ in range(9)]
    s = "".join(map(str, d)) + str(mod_11_10(d))
    return pick([f"{s[:2]} {s[2:5]} {s[5:8]} {s[8:]}", f"{s[:2]}/{s[2:5]}/{s[5:8]}/{s[8:]}"])


def fr_nir():
    while True:
        s = pick("12") + f"{R.randrange(50, 99):02d}{R.randrange(1, 13):02d}{R.randrange(1, 96):02d}{R.randrange(1, 990):03d}{R.randrange(1, 999):03d}"
        k = 97 - int(s) % 97
        return pick([f"{s[0]} {s[1:3]} {s[3:5]} {s[5:7]} {s[7:10]} {s[10:13]} {k:02d}", f"{s}{k:02d}",
                     f"{s[0]} {s[1:3]} {s[3:5]} {s[5:7]} {s[7:10]} {s[10:13]} - {k:02d}", f"{s[0]}.{s[1:3]}.{s[3:5]}.{s[5:7]}.{s[7:10]}.{s[10:13]}.{k:02d}"])


def it_cf():
    odd = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23]
    L = "BCDFGHLMNPRSTVZ"
    s = "".join(pick(L) for _ in range(3)) + "".join(pick(L) for _ in range(2)) + pick("AEIOU")
    s += f"{R.randrange(50, 99):02d}" + pick("ABCDEHLMPRST") + f"{R.choice([R.randrange(1, 29), R.randrange(41, 69)]):02d}"
    s += pick("ABFHLM") + f"{R.randrange(100, 999):03d}"
    tot = 0
    for i, ch in enumerate(s):
        v = int(ch) if ch.isdigit() else ord(ch) - 65
        tot += odd[v] if i % 2 == 0 else v
    s += chr(65 + tot % 26)
    return pick([s, s.lower(), f"{s[:3]} {s[3:6]} {s[6:11]} {s[11:]}"])


def nl_bsn():
    while True:
        d = [R.randrange(10) for _ in range(8)]
        c = sum((9 - i) * x for i, x in enumerate(d)) % 11
        if c < 10:
            s = "".join(map(str, d)) + str(c)
            if s[0] != "0":
                return pick([s, f"{s[:4]}.{s[4:6]}.{s[6:]}", f"{s[:3]} {s[3:6]} {s[6:]}", f"{s[:3]}.{s[3:6]}.{s[6:]}"])


def pesel():
    y, m, dd = R.randrange(50, 100), R.randrange(1, 13), R.randrange(1, 29)
    if R.random() < 0.4:
        y, m = R.randrange(0, 10), m + 20
    d = list(map(int, f"{y:02d}{m:02d}{dd:02d}{R.randrange(10000):04d}"))
    c = (10 - sum(a * b for a, b in zip(d, [1, 3, 7, 9, 1, 3, 7, 9, 1, 3])) % 10) % 10
    s = "".join(map(str, d)) + str(c)
    return pick([s, f"{s[:6]} {s[6:]}", f"{s[:6]}-{s[6:]}"])


def cpr():
    while True:
        s = f"{R.randrange(1, 29):02d}{R.randrange(1, 13):02d}{R.randrange(50, 99):02d}{R.randrange(1000, 9999):04d}"
        d = list(map(int, s))
        if sum(a * b for a, b in zip(d, [4, 3, 2, 7, 6, 5, 4, 3, 2, 1])) % 11 == 0:
            return pick([f"{s[:6]}-{s[6:]}", f"{s[:6]} - {s[6:]}"])


def no_fnr():
    while True:
        s = f"{R.randrange(1, 29):02d}{R.randrange(1, 13):02d}{R.randrange(50, 99):02d}{R.randrange(1000):03d}"
        d = list(map(int, s))
        k1 = (11 - sum(a * b for a, b in zip(d, [3, 7, 6, 1, 8, 9, 4, 5, 2])) % 11) % 11
        if k1 == 10:
            continue
        d.append(k1)
        k2 = (11 - sum(a * b for a, b in zip(d, [5, 4, 3, 2, 7, 6, 5, 4, 3, 2])) % 11) % 11
        if k2 == 10:
            continue
        s = s + str(k1) + str(k2)
        return pick([s, f"{s[:6]} {s[6:]}"])


def cz_rc():
    while True:
        m = R.randrange(1, 13) + pick([0, 50])
        s = f"{R.randrange(54, 99):02d}{m:02d}{R.randrange(1, 29):02d}{R.randrange(1000):03d}"
        c = int(s) % 11 % 10
        if int(s) % 11 == 10:
            continue
        s += str(c)
        return pick([f"{s[:6]}/{s[6:]}", f"{s[:6]} / {s[6:]}"])


def se_pnr():
    while True:
        s = f"{R.randrange(40, 99):02d}{R.randrange(1, 13):02d}{R.randrange(1, 29):02d}{R.randrange(1000):03d}"
        d = list(map(int, s))
        tot = sum((x * 2) % 9 + (9 if x == 9 else 0) if i % 2 == 0 else x for i, x in enumerate(d))
        s += str((10 - tot % 10) % 10)
        return pick([f"{s[:6]}-{s[6:]}", f"19{s[:6]}-{s[6:]}", f"19{s}"])


def fi_hetu():
    dd, mm, yy = R.randrange(1, 29), R.randrange(1, 13), R.randrange(0, 100)
    sign = pick("-A") if yy < 25 else "-"
    nnn = R.randrange(2, 900)
    n = int(f"{dd:02d}{mm:02d}{yy:02d}{nnn:03d}")
    return f"{dd:02d}{mm:02d}{yy:02d}{sign}{nnn:03d}" + "0123456789ABCDEFHJKLMNPRSTUVWXY"[n % 31]


def be_nn():
    y, m, dd, seq = R.randrange(50, 99), R.randrange(1, 13), R.randrange(1, 29), R.randrange(1, 998)
    base = int(f"{y:02d}{m:02d}{dd:02d}{seq:03d}")
    k = 97 - base % 97
    return f"{y:02d}.{m:02d}.{dd:02d}-{seq:03d}.{k:02d}"


def ch_ahv():
    d = [7, 5, 6] + [R.randrange(10) for _ in range(9)]
    s = sum(x if i % 2 == 0 else 3 * x for i, x in enumerate(d))
    st = "".join(map(str, d)) + str((10 - s % 10) % 10)
    return f"{st[:3]}.{st[3:7]}.{st[7:11]}.{st[11:]}"


def pt_nif():
    while True:
        d = [R.choice([1, 2])] + [R.randrange(10) for _ in range(7)]
        c = 11 - sum(a * b for a, b in zip(d, [9, 8, 7, 6, 5, 4, 3, 2])) % 11
        c = 0 if c >= 10 else c
        s = "".join(map(str, d)) + str(c)
        return pick([s, f"{s[:3]} {s[3:6]} {s[6:]}"])


def ie_pps():
    A = "WABCDEFGHIJKLMNOPQRSTUV"
    d = [R.randrange(10) for _ in range(7)]
    s = sum((8 - i) * x for i, x in enumerate(d))
    return "".join(map(str, d)) + A[s % 23] + pick(["", "A"]) if False else "".join(map(str, d)) + A[s % 23]


def at_svnr():
    while True:
        d = [R.randrange(1, 10), R.randrange(10), R.randrange(10)]
        dd, mm, yy = R.randrange(1, 29), R.randrange(1, 13), R.randrange(40, 99)
        rest = list(map(int, f"{dd:02d}{mm:02d}{yy:02d}"))
        full = d + [0] + rest
        c = sum(a * b for a, b in zip(full, [3, 7, 9, 0, 5, 8, 4, 2, 1, 6])) % 11
        if c == 10:
            continue
        s = "".join(map(str, d)) + str(c) + f"{dd:02d}{mm:02d}{yy:02d}"
        return f"{s[:4]} {s[4:]}"


IDS = {
    "en": [("NINO", nino), ("NHS number", nhs), ("PPS number", ie_pps)],
    "de": [("Steuer-ID", de_idnr), ("Sozialversicherungsnummer", at_svnr), ("AHV-Nummer", ch_ahv)],
    "fr": [("numéro de sécurité sociale", fr_nir), ("numéro national", be_nn), ("AVS", ch_ahv)],
    "es": [("DNI", es_ids), ("NIE", es_ids)],
    "it": [("codice fiscale", it_cf)],
    "nl": [("BSN", nl_bsn), ("rijksregisternummer", be_nn)],
    "pl": [("PESEL", pesel)],
    "da": [("CPR-nummer", cpr), ("fødselsnummer", no_fnr)],
    "cs": [("rodné číslo", cz_rc)],
    "pt": [("NIF", pt_nif)],
    "sv": [("personnummer", se_pnr)],
    "fi": [("henkilötunnus", fi_hetu)],
}
ID_T = {
    "en": ["My {w} is {i}, can you fill it into this form letter?", "Check this for typos: name Sam Carter, {w} {i}.",
           "{w}: {i} — write a cover note for HMRC."],
    "de": ["Meine {w} lautet {i}. Bitte setze sie in das Formular ein.", "{w}: {i} – schreib ein Anschreiben ans Finanzamt."],
    "fr": ["Mon {w} est {i}, remplis le formulaire.", "{w} : {i}. Rédige une lettre pour la CPAM."],
    "es": ["Mi {w} es {i}, rellena la solicitud.", "Nombre: Lucía Pérez, {w} {i}. Redacta la instancia."],
    "it": ["Il mio {w} è {i}, compila il modulo.", "Ecco i dati: Luca Bianchi, {w} {i}. Scrivi la domanda."],
    "nl": ["Mijn {w} is {i}, vul het formulier in.", "{w}: {i}. Schrijf een brief aan de Belastingdienst."],
    "pl": ["Mój numer {w} to {i}, uzupełnij wniosek.", "Dane: Anna Nowak, {w} {i}. Napisz podanie."],
    "da": ["Mit {w} er {i}, udfyld blanketten.", "{w}: {i}. Skriv et brev til kommunen."],
    "cs": ["Moje {w} je {i}, vyplň formulář.", "Údaje: Jan Novák, {w} {i}. Napiš žádost."],
    "pt": ["O meu {w} é {i}, preenche o formulário.", "Dados: Ana Costa, {w} {i}. Escreve o requerimento."],
    "sv": ["Mitt {w} är {i}, fyll i blanketten.", "Uppgifter: Elin Berg, {w} {i}. Skriv ansökan."],
    "fi": ["{w}ni on {i}, täytä lomake.", "Tiedot: Aino Virtanen, {w} {i}. Kirjoita hakemus."],
}

# ---------------------------------------------------------------------------------------------
# Hard negatives.

NEG = {
    "en": ["My order number is 4021 5567 89, when will it ship?", "Invoice INV-2024-00123 is overdue since 03.12.2024, draft a reminder.",
           "The total was 1 234 567.89 GBP across 12 months.", "Upgrade from version 2.14.3 to 3.0.1 broke the build.",
           "What is 123 456 + 789 012?", "Is GB82 WEST 1234 5698 7654 33 a valid IBAN? (I changed a digit)",
           "Impressum style footer for our company: Acme Ltd, 14 Mulberry Road, London SW1A 1AA, registered office.",
           "Tracking number 1Z 999 AA1 0123 4567 84 shows no movement.", "The meeting is on 2024-12-03 at 14:30 in room 4.12.",
           "Compute 0176 * 12 and 0301 / 7.", "Ticket #20241203-0042 was closed.", "Our population grew from 61 234 567 to 67 000 000.",
           "In 1066 the Normans won; by 1215 Magna Carta was sealed.", "Read chapter 12, pages 100-134 of the book."],
    "de": ["Meine Bestellnummer ist 4021 5567 89, wann kommt das Paket?", "Rechnungsnummer RE-2024-00123 vom 03.12.2024 ist offen.",
           "Der Betrag beträgt 1.234.567,89 € für 12 Monate.", "Nach dem Update von Version 2.14.3 auf 3.0.1 geht nichts mehr.",
           "Was ist 123 456 + 789 012?", "Impressum: Muster GmbH, Hauptstraße 5, 10115 Berlin, Handelsregister HRB 12345.",
           "Kundennummer 030 1234 5678 – bitte in die Vorlage einsetzen.", "Der Termin ist am 12.03.2025 um 14:30 Uhr.",
           "Artikelnummer 0176-2345-6789 ist ausverkauft.", "Die Hauptstraße ist 5 km lang und hat 12 Ampeln."],
    "fr": ["Ma commande numéro 4021 5567 89 n'est pas arrivée.", "La facture FA-2024-00123 du 03/12/2024 est impayée.",
           "Le montant est de 1 234 567,89 € sur 12 mois.", "La version 2.14.3 casse la compilation.",
           "Combien font 06 12 + 34 56 ?", "Mentions légales : Exemple SAS, 12 rue de la Paix, 75002 Paris, siège social.",
           "Le colis numéro de suivi 6A 123 456 789 01 est bloqué.", "Rendez-vous le 03.12.2025 à 14h30."],
    "es": ["Mi pedido número 612 345 678 no ha llegado.", "La factura F-2024-00123 del 03/12/2024 está pendiente.",
           "El importe es de 1.234.567,89 € en 12 meses.", "La versión 2.14.3 rompe la compilación.",
           "¿Cuánto es 612 + 345 - 678?", "Aviso legal: Ejemplo S.L., Calle Mayor 5, 28013 Madrid, domicilio social, CIF B12345678.",
           "El número de seguimiento 1234 5678 9012 no funciona.", "La población es de 47 385 107 habitantes."],
    "it": ["Il mio ordine numero 333 123 4567 non è arrivato.", "La fattura n. 2024/00123 del 03/12/2024 è scaduta.",
           "L'importo è di 1.234.567,89 € in 12 mesi.", "La versione 2.14.3 non compila.",
           "Quanto fa 347 * 12?", "Sede legale: Esempio S.r.l., Via Roma 10, 00184 Roma, P.IVA 01234567890.",
           "Il numero di spedizione 0039 1234 5678 è fermo.", "Via Roma è la strada principale del paese."],
    "nl": ["Mijn bestelnummer is 06 1234 5678 9, wanneer komt het?", "Factuur 2024-00123 van 03-12-2024 staat nog open.",
           "Het bedrag is € 1.234.567,89 over 12 maanden.", "Versie 2.14.3 breekt de build.",
           "Wat is 1234 + 5678?", "Vestigingsadres: Voorbeeld B.V., Kerkstraat 12, 1017 GB Amsterdam, KvK 12345678.",
           "Trackingnummer 3S ABCD 1234 5678 staat stil.", "De Kerkstraat is 500 meter lang."],
    "pl": ["Mój numer zamówienia to 512 345 678 9.", "Faktura FV/2024/00123 z dnia 03.12.2024 jest nieopłacona.",
           "Kwota wynosi 1 234 567,89 zł za 12 miesięcy.", "Wersja 2.14.3 nie kompiluje się.",
           "Ile to jest 123 + 456?", "Siedziba: Przykład sp. z o.o., ul. Długa 5, 00-238 Warszawa, KRS 0000123456, NIP firmy 5250001009.",
           "Numer przesyłki 00 1234 5678 9012 3456 78 nie działa.", "Ulica Długa ma 12 km."],
    "da": ["Mit ordrenummer er 2012 3456 78.", "Faktura 2024-00123 af 03.12.2024 er ikke betalt.",
           "Beløbet er 1.234.567,89 kr. over 12 måneder.", "Version 2.14.3 virker ikke.",
           "Hvad er 20 + 12 + 34 + 56?", "Hovedkontor: Eksempel ApS, Nørregade 7, 1165 København K, CVR 12345678.",
           "Pakken med sporingsnummer 0157 1234 5678 9 er forsinket.", "Der bor 5 932 654 mennesker i Danmark."],
    "cs": ["Číslo mé objednávky je 602 123 456 78.", "Faktura 2024-00123 ze dne 03.12.2024 není zaplacena.",
           "Částka je 1 234 567,89 Kč za 12 měsíců.", "Verze 2.14.3 nefunguje.",
           "Kolik je 602 + 123 + 456?", "Sídlo: Příklad s.r.o., Vodičkova 1234/36, 110 00 Praha 1, IČO 12345678.",
           "Zásilka číslo 1234 5678 9012 je zpožděná.", "V Praze žije 1 357 326 obyvatel."],
    "pt": ["O número da minha encomenda é 912 345 678 9.", "A fatura FT 2024/00123 de 03-12-2024 está em atraso.",
           "O montante é de 1.234.567,89 € em 12 meses.", "A versão 2.14.3 não compila.",
           "Quanto é 912 - 345 + 678?", "Sede: Exemplo, Lda., Rua Augusta 112, 1100-053 Lisboa, NIPC 501234567.",
           "O código de rastreio RR 123 456 789 PT está parado.", "Portugal tem 10 639 726 habitantes."],
    "sv": ["Mitt ordernummer är 070 123 45 67 8.", "Faktura 2024-00123 från 2024-12-03 är obetald.",
           "Beloppet är 1 234 567,89 kr på 12 månader.", "Version 2.14.3 bygger inte.",
           "Vad är 070 + 123 + 45?", "Säte: Exempel AB, Storgatan 5, 114 51 Stockholm, organisationsnummer 556123-4567.",
           "Kollinummer 12345678901 har inte rört sig.", "Storgatan är 2 km lång."],
    "fi": ["Tilausnumeroni on 040 123 4567 8.", "Lasku 2024-00123 päivältä 03.12.2024 on maksamatta.",
           "Summa on 1 234 567,89 € 12 kuukaudessa.", "Versio 2.14.3 ei käänny.",
           "Paljonko on 040 + 123 + 4567?", "Pääkonttori: Esimerkki Oy, Mannerheimintie 12, 00100 Helsinki, Y-tunnus 1234567-8.",
           "Lähetyksen seurantakoodi JJFI 6412 3456 7890 1234 on jumissa.", "Suomessa asuu 5 603 851 ihmistä."],
}


ORDER_WORD = {
    "en": ["Order number", "Invoice", "Tracking number", "Serial"], "de": ["Bestellnummer", "Rechnungsnummer", "Sendungsnummer", "Kundennummer"],
    "fr": ["Commande n°", "Facture", "Numéro de suivi"], "es": ["Pedido", "Factura", "Número de seguimiento"],
    "it": ["Ordine", "Fattura", "Numero di spedizione"], "nl": ["Bestelnummer", "Factuur", "Ordernummer"],
    "pl": ["Zamówienie", "Faktura", "Numer przesyłki"], "da": ["Ordre", "Faktura", "Ordrenummer"],
    "cs": ["Objednávka", "Faktura", "Číslo zásilky"], "pt": ["Encomenda", "Fatura", "Número de encomenda"],
    "sv": ["Beställning", "Faktura", "Ordernummer"], "fi": ["Tilaus", "Lasku", "Tilausnumero"],
}
CURRENCY = {"en": "GBP", "de": "€", "fr": "€", "es": "€", "it": "€", "nl": "€", "pl": "zł", "da": "kr", "cs": "Kč",
            "pt": "€", "sv": "kr", "fi": "€"}


def generated_negatives(lang):
    """Numbers shaped like phones, ids or addresses that are references, amounts, dates,
    versions or arithmetic."""
    out = []
    for _ in range(3):
        f = pick(PHONES[lang])
        nat, _ = f(pick(["m", "g"]))
        out.append(f"{pick(ORDER_WORD[lang])}: {nat}")
    out.append(f"{digs(3, first=R.randrange(1, 10))} {digs(3)} {digs(3)} {CURRENCY[lang]}")
    out.append(f"{R.randrange(1, 29):02d}.{R.randrange(1, 13):02d}.{R.randrange(1990, 2030)} {R.randrange(0, 24):02d}:{R.randrange(0, 60):02d}")
    out.append(f"v{R.randrange(0, 20)}.{R.randrange(0, 40)}.{R.randrange(0, 200)}")
    a, b = R.randrange(100, 999), R.randrange(100, 999)
    out.append(f"{a} {b} + {R.randrange(100, 999)} = ?")
    out.append(f"{pick(['Windows', 'Kapitel', 'Release', 'Model'])} {R.randrange(2, 12)}, {R.randrange(1990, 2030)} {pick(['Update', 'Edition', 'Ausgabe'])}.")
    return out


def rows():
    out = []
    for lang in LANGS:
        # Phones: with a phone word (mobile and geographic), bare mobiles, international.
        for k in range(10):
            f = PHONES[lang][k % len(PHONES[lang])]
            kind = "g" if k % 2 else "m"
            nat, intl = f(kind)
            out.append((pick(PHONE_CTX[lang]).format(p=nat), lang, True, ["phone"]))
        for k in range(6):
            f = PHONES[lang][k % len(PHONES[lang])]
            nat, intl = f("m")
            out.append((pick(PHONE_BARE[lang]).format(p=nat), lang, True, ["phone"]))
        for k in range(4):
            f = PHONES[lang][k % len(PHONES[lang])]
            nat, intl = f(pick(["m", "g"]))
            out.append((pick(PHONE_BARE[lang]).format(p=intl), lang, True, ["phone"]))
        # Addresses.
        for k in range(14):
            cc = ADDR_CC[lang][k % len(ADDR_CC[lang])]
            out.append((pick(ADDR_T[lang]).format(a=addr(cc)), lang, True, ["address"]))
        # Ids.
        for k in range(10):
            w, f = IDS[lang][k % len(IDS[lang])]
            out.append((pick(ID_T[lang]).format(w=w, i=f()), lang, True, ["national_id"]))
        # Negatives.
        for t in NEG[lang]:
            out.append((t, lang, False, []))
        for _ in range(3):
            for t in generated_negatives(lang):
                out.append((t, lang, False, []))
    return out


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "benches/data/format-dev.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for p, lang, s, e in rows():
            f.write(json.dumps({"prompt": p, "lang": lang, "sensitive": s, "entities": e}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
