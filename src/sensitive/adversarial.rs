//! Inputs built to make the scan slow: short units made of the detectors' anchors (street words,
//! digits, `@`, `+`, `://`, token prefixes, health terms next to markers, IBAN heads, …),
//! repeated. Used by the seeded worst-case search in the tests and by `benches/scan.rs`, which
//! measures the worst unit found. Not used on the request path.

const PIECES: &[&str] = &[
    "straße ",
    "Straße ",
    "1 ",
    "12a ",
    "Hauptstr ",
    "Via ",
    "Roma ",
    "rue ",
    "27 ",
    "Close ",
    "DE89 ",
    "de12 ",
    "4111 ",
    "1111 ",
    "0176 ",
    "+49 ",
    "+",
    "00",
    "@",
    "a@",
    "b.de ",
    "x@y.",
    "://",
    "u:p@",
    "password is ",
    "Passwort: ",
    "sk-",
    "ghp_",
    "AKIA",
    "eyJ",
    "eyJa.",
    "bearer ",
    "-----BEGIN ",
    "my ",
    "mein ",
    "diabetes ",
    "epilep",
    "Anna ",
    "Kollegin ",
    "hospital ",
    "10435 ",
    "Berlin ",
    ", ",
    "12345 ",
    "123 45 ",
    "00-590 ",
    "1234 AB ",
    "1",
    "2",
    "-",
    ".",
    "/",
    " ",
    "\n",
    "ü",
    "ß",
    "\u{200b}",
    "\u{a0}",
    "１",
    "X1234567L ",
    "RSSMRA85T10A562S ",
    "151790309 ",
    "tel ",
    "call ",
    "ring ",
    "a",
    "Z",
    "=",
    ":",
    "'",
    "\"",
    "PDO(",
    "token=",
    "api_key: ",
    "hypothetical ",
    "GmbH ",
    "Impressum ",
    "st ",
    "St. ",
    "Gardens ",
];

/// One xorshift step.
fn next(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

/// A unit of 1 to 5 pieces for `seed`.
pub fn unit(seed: u64) -> String {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let n = 1 + next(&mut s) % 5;
    (0..n)
        .map(|_| PIECES[(next(&mut s) % PIECES.len() as u64) as usize])
        .collect()
}

/// `unit` repeated to at least `bytes`.
pub fn repeated(unit: &str, bytes: usize) -> String {
    unit.repeat(bytes / unit.len().max(1) + 1)
}

/// Ordinary text: prose with code and a few numbers, no sensitive data (nothing stops the scan
/// early).
pub fn ordinary(bytes: usize) -> String {
    let unit = "We are migrating the billing service to a new queue. Please review the following Python \
        snippet and explain the trade-offs of retrying inside the consumer versus in a dead-letter queue:\n\
        def handle(msg):\n    order = parse(msg.body)\n    if order.total > 1000:\n        notify(order.id)\n\
        The service handles about 4000 orders per minute, version 2.14 of the client, ticket 88213. ";
    let mut s = unit.repeat(bytes / unit.len() + 1);
    s.truncate(bytes);
    s
}
