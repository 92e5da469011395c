//! Detector tests: what each family finds, its near misses, and the request shapes that used to
//! hide data from the scan.

use super::*;

fn kinds(t: &str) -> Vec<&'static str> {
    scan_text(t).into_iter().map(Entity::as_str).collect()
}

/// Each text is found as exactly one entity, of `kind`.
fn assert_kind(kind: &str, texts: &[&str]) {
    for t in texts {
        assert_eq!(kinds(t), [kind], "{t:?}");
    }
}

/// No text is found sensitive.
fn assert_clean(texts: &[&str]) {
    for t in texts {
        assert!(scan_text(t).is_empty(), "{t}: {:?}", kinds(t));
    }
}

fn body_kinds(body: &str) -> Vec<&'static str> {
    scan_body(body.as_bytes(), &ScanOptions::default())
        .unwrap()
        .entities
        .into_iter()
        .map(Entity::as_str)
        .collect()
}

#[test]
fn finds_entities_by_kind() {
    assert_eq!(kinds("write to anna.nowak@example.pl please"), ["email"]);
    assert_eq!(
        kinds("Überweisung auf DE89 3704 0044 0532 0130 00 bitte"),
        ["iban"]
    );
    assert_eq!(kinds("my Visa 4925 4486 7878 2702 is saved"), ["card"]);
    assert_eq!(kinds("Mi DNI es 09538836T"), ["national_id"]);
    assert_eq!(
        kinds("use my BSN, 151790309, as the valid case"),
        ["national_id"]
    );
    assert_eq!(kinds("call me back on 07700 900218 asap"), ["phone"]);
    assert!(kinds("Ticketnummer 098554166 is gesloten").is_empty());
    assert_eq!(kinds("ring +49 30 1234567"), ["phone"]);
    assert_eq!(kinds("key AKIAQ3EGUJ4XJ7ZPLM6B leaked"), ["secret"]);
    assert_eq!(
        kinds("OPENAI_API_KEY = sk-proj-RFP9QHabcdXfghijklmnop7Qx2Lm4Nv8Wz"),
        ["secret"]
    );
    assert_eq!(
        kinds("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl"),
        ["secret"]
    );
    assert_eq!(kinds("My password is Tulip!Harbor42"), ["secret"]);
    assert_eq!(kinds("I was diagnosed with diabetes last year"), ["health"]);
    assert_eq!(kinds("Tom broke his leg skiing in Andorra"), ["health"]);
    assert_eq!(kinds("post it to 27 Hawthorn Close, Bristol"), ["address"]);
    assert_eq!(kinds("ship to 221 Baker St, London"), ["address"]);
    assert_eq!(kinds("au 12 rue des Lilas, 69003 Lyon"), ["address"]);
    assert_eq!(kinds("Absender: Lindenstraße 14, Köln"), ["address"]);
    assert_eq!(
        kinds("$pdo = new PDO('mysql:host=db;dbname=shop', 'shop_admin', 'N7#vQ2m!xLr9$Tz4');"),
        ["secret"]
    );
}

#[test]
fn near_misses_are_not_sensitive() {
    assert_clean(&[
        "order reference 4417902265513381",
        "IBAN format is two letters then check digits, e.g. XX00 followed by the BBAN",
        "ticket 151790309 was closed",
        "DE89 3704 0044 0532 0130 01 is a typo",
        "def luhn(number: str) -> bool: return sum(digits) % 10 == 0",
        "Explain how diabetes affects the kidneys.",
        "version 2.14.0 released on 2025-10-02 with 1234567 downloads",
        "the token count is 4096 and the password field must be hashed",
        "Explain how these drugs reduce hospitalization in patients without diabetes.",
        "which regression diagnostics should I check for my field data?",
        "$pdo = new PDO('mysql:host=db-prod.eu;dbname=shop', 'shop_admin', $password);",
        "The AWS docs use AKIAIOSFODNN7EXAMPLE as the sample key id.",
        "set GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx in your shell",
        "Co-Authored-By: Claude <noreply@anthropic.com>",
        "Questions? support@acme.io or privacy@acme.io",
        "A hypothetical patient with epilepsy takes lamotrigine: which interactions matter?",
    ]);
}

#[test]
fn spellings_that_used_to_slip_through() {
    assert_kind(
        "iban",
        &[
            "IBAN DE89-3704-0044-0532-0130-00",
            "IBAN DE89.3704.0044.0532.0130.00",
            "IBAN DE89\t3704\t0044\t0532\t0130\t00",
            "IBAN DE89\u{a0}3704\u{a0}0044\u{a0}0532\u{a0}0130\u{a0}00",
            "IBAN DE89  3704  0044  0532  0130  00",
            "iban de89 3704 0044 0532 0130 00",
            "IBAN DE89\u{200b}3704\u{200b}0044\u{200b}0532\u{200b}0130\u{200b}00",
            "IBAN ＤＥ８９ ３７０４ ００４４ ０５３２ ０１３０ ００",
        ],
    );
    assert_kind(
        "card",
        &["card 4111.1111.1111.1111", "card 4111  1111  1111  1111"],
    );
    assert_kind(
        "address",
        &[
            "Hauptstr 5",
            "Hauptstr. 5",
            "Haupt-Straße 5",
            "HAUPTSTRASSE 5",
            "Berliner Straße 5",
            "Kerkstraat 12, Utrecht",
            "Nørregade 7, 1165 København K",
            "ul. Marszałkowska 84/92, 00-514 Warszawa",
            "Via Giuseppe Garibaldi 23, Milano",
        ],
    );
    assert_eq!(kinds("write to jürgen@bäckerei-müller.de"), ["email"]);
}

#[test]
fn every_part_of_a_body_is_scanned() {
    let iban = "DE89 3704 0044 0532 0130 00";
    let b64 = |s: &str| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(s)
    };
    let cases = [
        format!(r#"{{"messages":[{{"role":"user","content":"data:{iban}"}}]}}"#),
        format!(
            r#"{{"messages":[{{"role":"user","content":[{{"type":"document","source":{{"type":"text","media_type":"text/plain","data":"{iban}"}}}}]}}]}}"#
        ),
        format!(
            r#"{{"messages":[{{"role":"user","content":[{{"type":"document","source":{{"type":"base64","media_type":"text/plain","data":"{}"}}}}]}}]}}"#,
            b64(iban)
        ),
        format!(
            r#"{{"messages":[{{"role":"user","content":[{{"type":"file","file":{{"filename":"a.txt","file_data":"data:text/plain;base64,{}"}}}}]}}]}}"#,
            b64(iban)
        ),
        format!(r#"{{"tools":[{{"input":{{"id":"{iban}","model":"x"}}}}]}}"#),
        format!(r#"{{"metadata":{{"user_id":"{iban}"}}}}"#),
        format!(r#"{{"unknown_field":{{"deep":[["{iban}"]]}}}}"#),
        format!(r#"{{"{iban}":1}}"#),
        r#"{"messages":[{"role":"user","content":"my IBAN is DE89 3704 0044"},{"role":"user","content":"0532 0130 00"}]}"#.to_string(),
    ];
    for body in &cases {
        assert_eq!(body_kinds(body), ["iban"], "{body}");
    }
    assert_eq!(body_kinds(r#"{"card_number": 4111111111111111}"#), ["card"]);
}

#[test]
fn duplicate_keys_are_refused_not_scanned() {
    let e = scan_body(
        br#"{"messages":[{"role":"user","content":"DE89 3704 0044 0532 0130 00","content":"hello"}]}"#,
        &ScanOptions::default(),
    )
    .unwrap_err();
    assert_eq!(e.path(), "$.messages[0].content");
    assert!(validate_body(br#"{"a":1,"a":2}"#).is_err());
    assert!(validate_body(br#"{"a":1,"b":{"a":2}}"#).is_ok());
}

#[test]
fn binary_media_is_unscannable_and_budget_counts_as_sensitive() {
    use base64::Engine;
    let png: Vec<u8> = [0x89u8, b'P', b'N', b'G']
        .into_iter()
        .chain((0..3000u32).map(|i| (i * 31 % 256) as u8))
        .collect();
    let data = base64::engine::general_purpose::STANDARD.encode(png);
    let body = format!(
        r#"{{"messages":[{{"role":"user","content":[{{"type":"image","source":{{"type":"base64","media_type":"image/png","data":"{data}"}}}}]}}]}}"#
    );
    let f = scan_body(body.as_bytes(), &ScanOptions::default()).unwrap();
    assert!(f.unscannable && !f.sensitive());
    let big = format!(r#"{{"a":"{}"}}"#, "word ".repeat(1000));
    let f = scan_body(
        big.as_bytes(),
        &ScanOptions {
            budget_bytes: 1000,
            ..ScanOptions::default()
        },
    )
    .unwrap();
    assert!(f.budget_exceeded && f.sensitive());
}

#[test]
fn claude_code_system_prompt_is_not_sensitive() {
    // From Claude Code 2.1's Task tool description: a row count is not a house number.
    assert!(scan_text("we're adding a NOT NULL column to a 50M-row table").is_empty());
    assert_eq!(
        scan_text("She lives at 14 Mulberry Row, Bath"),
        vec![Entity::Address]
    );
    let sys = "You are Claude Code, Anthropic's official CLI for Claude. When you create a commit, end the message with:\n\n🤖 Generated with [Claude Code](https://claude.com/claude-code)\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n\nIf the user asks for help, they can report issues at https://github.com/anthropics/claude-code/issues. Use the TodoWrite tool. Never commit secrets such as .env files or credentials.json.";
    let body = serde_json::json!({"model": "claude-sonnet-4-5", "system": [{"type": "text", "text": sys}], "messages": [{"role": "user", "content": "fix the failing test in src/lib.rs"}]});
    assert!(body_kinds(&body.to_string()).is_empty());
}

/// Random bytes and damaged JSON: the walker answers or refuses, never panics.
#[test]
fn walker_survives_garbage() {
    use crate::test_support::XorShift;
    let mut r = XorShift(0x5eed_1234_abcd_0001);
    let base = br#"{"model":"x","messages":[{"role":"user","content":"a\u00e9\ud83d\ude00 DE89 3704","n":[1,-2.5e3,true,null]}]}"#;
    for _ in 0..3000 {
        let mut b = base.to_vec();
        for _ in 0..(1 + r.below(4)) {
            let i = r.below(b.len() as u64) as usize;
            match r.below(3) {
                0 => b[i] = r.next() as u8,
                1 => {
                    b.remove(i);
                }
                _ => b.insert(i, b"{}[]\",:\\u"[r.below(9) as usize]),
            }
        }
        let _ = scan_body(&b, &ScanOptions::default());
        let _ = validate_body(&b);
    }
}

#[test]
fn vendor_tokens_and_credentials() {
    assert_kind(
        "secret",
        &[
            "HF_TOKEN=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",
            "export GH=ghp_9f8Kd7Lm2Qx5Zr1Tb6Wn3Vc4Ys0Pa8Hj2Ue7",
            "glpat-Xy7Qz2Lm9Kd4Rt6Pb1Wn",
            "SLACK=xoxp-7203948516-3859201746-Zq8Wm3Kx7Pd2Lr5Tn9Vb",
            "key: sk-ant-api03-Qm7Xk2Lp9Zr4Wd8Tn1Vb6Hc3Yf5Js0Ga-Ue2Ko7Pi9",
            "AIzaSyD4kX9mQ2pL7vR8tW3nZ6bC1hJ5gF0eK9s",
            "npm_Qx7Lm2Kd9Rt4Pb6Wn1Vc3Ys8Ha5Je0Uf2Go7",
            "redis://:Zq8Wm3Kx7@cache.internal:6379/0",
            "mysql://app:Tr0ub4dor&3@db:3306/shop",
            "\"client_secret\": \"Gk29_sP0-xQw8Lm3\"",
            "mein Passwort lautet Sommerwind!2024",
            "moje hasło to Kot2024!Mruczek",
            "salasanani on Revontuli77!",
            "my PIN is 4821",
        ],
    );
    for t in [
        "hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "postgres://user:password@localhost:5432/test",
        "password = os.environ[\"DB_PASSWORD\"]",
        "password: str = Field(..., min_length=8)",
        "the password must contain at least 8 characters",
        "passwords are hashed with argon2id and SHA-256",
    ] {
        assert!(kinds(t).is_empty(), "{t}: {:?}", kinds(t));
    }
}

/// A run of digits longer than any counter a group keeps (a pasted blob of numbers): counted, not
/// overflowed, and not mistaken for an id or a card.
#[test]
fn a_very_long_digit_run_is_one_blob() {
    let blob = "7".repeat(70_000);
    assert!(scan_text(&blob).is_empty());
    let v = serde_json::json!({"messages": [{"role": "user", "content": format!("{blob} 4111 1111 1111 1111")}]});
    assert_eq!(body_kinds(&v.to_string()), vec!["card"]);
}

/// Phone numbers in each plan's national format, grouped as people write them.
#[test]
fn national_phone_formats() {
    assert_kind(
        "phone",
        &[
            "Please call me on 07564699286 after 6pm.",
            "Tél. : 01.94.99.97.56 — mets ça dans ma signature",
            "Vous pouvez me joindre au 05 75 03 99 70.",
            "Zadzwoń do mnie: 727497176.",
            "Tlf. 27 22 14 80 – skriv det i min signatur.",
            "Skriv til udlejeren at jeg er på 40 00 14 40 i dag.",
            "Unterschrift: Jonas, (0171) 4541788.",
            "Du erreichst mich unter 0351-7205104 (Festnetz).",
            "Udělej tabulku: Petr 0948 906 841, Eva",
            "Mándalo al 612 345 678 mañana.",
            "Tel. 022.665.42.78 — firma",
            "Mi móvil es el 948925641, escríbeme.",
            "Pode ligar-me para o 929333587.",
        ],
    );
    assert_clean(&[
        "Mi pedido número 612 345 678 no ha llegado.",
        "Artikelnummer 0176-2345-6789 ist ausverkauft.",
        "Ma commande numéro 4021 5567 89 n'est pas arrivée.",
        "Il mio ordine numero 333 123 4567 non è arrivato.",
        "Kwota to 512 345 678 zł rocznie.",
        "Ordrenummer: 93 70 00 66",
        "Termin: 07.08.2016 18:41",
        "Zásilka číslo 1234 5678 9012 je zpožděná.",
    ]);
}

/// House numbers and postcodes in each country's written form.
#[test]
fn national_address_formats() {
    assert_kind(
        "address",
        &[
            "Proszę wysłać paczkę na adres ul. Długa 86 m. 37, 68-832 Kraków.",
            "Přestěhoval jsem se na adresu Husova 806/11, 797 28 Ostrava.",
            "Min adresse er Strandvejen 33, 1. tv., 8693 Odense.",
            "Jeg er flyttet til Thereses gate 13 B, 0995 Oslo.",
            "Send pakken til Storgata 25 B, 0663 Oslo.",
            "Mijn adres is Kerkstraat 17, 9239 AB Utrecht.",
            "Mi dirección es c/ del Carmen nº 6, 1º dcha.",
            "A minha morada é Travessa da Rosa, n.º 16, 7102-060 Porto.",
            "Envoyez le colis à Meir 106, 8909 Gent.",
            "Envoyez le colis à Meir 37 bus 15, 9690 Bruxelles.",
            "Write to the neighbours; our address is 165 Station Road, Manchester.",
            "Mon adresse : 12 bis chemin des Vignes, 46075 Paris.",
            "Přestěhoval jsem se na adresu Nádražní 2087/8, napiš dopis.",
            "Absender:\nAm Markt 2-4, 32065 München\nKündigung",
            "Ik ben verhuisd naar Stationsplein 24\n9933 AB Utrecht.",
        ],
    );
    assert_clean(&[
        "Departure Gate 12 closes at 14:30.",
        "Windows 10, 2019 Server edition is old.",
        "Via Roma è la strada principale del paese.",
    ]);
}

/// National ids with their check letters and separators where people put them.
#[test]
fn national_id_spellings() {
    assert_kind(
        "national_id",
        &[
            "Mi DNI es 09538836-T, rellena la solicitud.",
            "Mi DNI es 09538836 T.",
            "Mi NIE es X-6277279-G.",
            "NIE X 6277279 G, por favor.",
            "My NINO is AB 12 34 56 C.",
            "NINO: ab 12 34 56 c — cover note",
            "codice fiscale RSS MRA 85T10 A562S, compila il modulo",
            "Dane: PESEL 072427-22134. Napisz podanie.",
            "Mit CPR-nummer er 060277-1393.",
            "My NHS number is 062 729 0027, fill it in.",
            "Nombre: Lucía Pérez, NIE Y7631590-C.",
        ],
    );
}

/// Procedures, devices and diagnosis phrases from the organ-system lexicon, about a relative, a
/// colleague or oneself, in each language; the same procedures asked about in general or in a
/// textbook frame, and ordinary words that contain a medical stem, stay clean.
#[test]
fn procedures_devices_and_diagnoses_about_someone() {
    assert_kind(
        "health",
        &[
            "My mother had her gallbladder removed by laparoscopy last spring.",
            "I've had a pacemaker since 2019 and want to know if I can fly.",
            "Meine Mutter bekommt nächste Woche einen Herzschrittmacher eingesetzt.",
            "Ma collègue s'est fait poser une prothèse de hanche en mars.",
            "A mi padre le pusieron un marcapasos en enero y no puede conducir.",
            "Mia sorella è stata operata alla spalla per una lussazione.",
            "Mijn vader slaapt sinds vorig jaar met een CPAP-apparaat vanwege slaapapneu.",
            "Moja mama przeszła kolonoskopię i czeka na wynik.",
            "Min kollega fik konstateret galdesten og skal have fjernet galdeblæren.",
            "Min granne går på kryckor efter en korsbandsoperation.",
            "Äitini käyttää kotona happirikastinta keuhkoahtaumataudin vuoksi.",
            "Moje babička má od loňska kardiostimulátor.",
            "O meu irmão foi operado ao joelho e anda de muletas.",
            "Min dotter har nötallergi.",
            "Tyttäreni on pähkinäallergia.",
        ],
    );
    for t in [
        "A hypothetical patient undergoes a laparoscopic cholecystectomy: list the steps.",
        "Case study: a 54-year-old receives a coronary stent after a heart attack.",
        "How long does recovery from a hip replacement usually take?",
        "Explain how a CPAP machine treats obstructive sleep apnoea.",
        "Beschreibe die Risiken einer Darmspiegelung.",
        "Qu'est-ce qu'une cholécystectomie et combien de temps dure la convalescence ?",
        "¿Cuánto dura la recuperación de una operación de rodilla?",
        "Hoe werkt een insulinepomp?",
        "Vad är en gastric bypass?",
        "Kuinka kauan polvileikkauksesta toipuminen kestää?",
        "Jak dlouho trvá rekonvalescence po operaci kolene?",
        "Quanto tempo demora a recuperação de uma cirurgia ao joelho?",
        // Ordinary words around a medical stem, next to a marker.
        "My colleague wants to bypass the proxy for localhost.",
        "Configure pacemaker and corosync on my two-node cluster.",
        "Min kode er for eksempel alt for langsom.",
        "Mijn project gaat over hernieuwbare energie.",
        "Moje chyba, to bylo trapné.",
        "Il mio capo dice che è un periodo di stenti.",
        "Meine Tochter kennt die Geschichte des Ortes.",
    ] {
        assert!(kinds(t).is_empty(), "{t}: {:?}", kinds(t));
    }
}
