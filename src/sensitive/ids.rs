//! National identification numbers of the EU/EEA, the UK and Switzerland, validated by their check
//! digits and embedded birth dates where the format has them (algorithms as documented by the
//! issuing authorities and collected in python-stdnum; the code here is our own).
//!
//! A format whose check leaves many random numbers valid (one mod-11 digit, no structure) counts
//! only with an id word nearby ("BSN", "NIF", "CPR", "NHS", ...): `Context`. Formats with a date,
//! two checks, a fixed prefix or a letter check count alone: `Strong`.
//!
//! | Country | Id | Check | Alone? |
//! |---|---|---|---|
//! | AT | Sozialversicherungsnummer | weighted mod 11 + date | written `NNNN DDMMYY`, else context |
//! | BE | Rijksregisternummer | mod 97 (two centuries) + date | yes |
//! | BG | ЕГН / EGN | weighted mod 11 + date | context |
//! | CH | AHV/AVS 756.xxxx.xxxx.xx | EAN-13 | yes |
//! | CZ, SK | rodné číslo | mod 11 + date | written with `/`, else context |
//! | DE | Steuer-IdNr | ISO 7064 mod 11,10 | written `NN NNN NNN NNN`, else context |
//! | DE | Rentenversicherungsnummer | weighted cross sum + date + letter | yes |
//! | DK | CPR | date (mod 11 before 2007) | `DDMMYY-NNNN` with mod 11, else context |
//! | EE, LT | isikukood / asmens kodas | two-stage mod 11 + date + century | yes |
//! | ES | DNI / NIE | mod 23 letter | yes |
//! | FI | henkilötunnus | mod 31 + date + century sign | yes |
//! | FR | NIR | mod 97 key | yes |
//! | GB | NHS number | mod 11 | written `NNN NNN NNNN`, else context |
//! | GB | National Insurance number | prefix and suffix letters | yes |
//! | GR | AMKA | Luhn + date | context |
//! | HR | OIB | ISO 7064 mod 11,10 | context |
//! | HU | TAJ | weighted mod 10 | context |
//! | IE | PPS | mod 23 letter | yes |
//! | IS | kennitala | mod 11 + date + century | written `DDMMYY-NNNN`, else context |
//! | IT | codice fiscale | odd/even table + date letters | yes |
//! | LU | matricule | Luhn + Verhoeff + date | yes |
//! | LV | personas kods | mod 11 + date | written `DDMMYY-NNNNN`, else context |
//! | NL | BSN | 11-proof | context |
//! | NO | fødselsnummer / D-nummer | two mod 11 + date | yes |
//! | PL | PESEL | weighted mod 10 + date | yes |
//! | PL | dowód osobisty | weighted mod 10 over letters and digits | yes |
//! | PL | NIP | weighted mod 11 | context |
//! | PT | NIF | mod 11 | context |
//! | PT | Cartão de Cidadão | Luhn over base 36 | yes |
//! | RO | CNP | weighted mod 11 + date + county | yes |
//! | SE | personnummer | Luhn + date | with `-`/`+` or 12 digits, else context |
//! | SI | EMŠO | mod 11 + date | yes |
//!
//! No checkable format (not detected by number alone; a context word plus shape is not enough to
//! tell them from any other number): CY, LI, MT identity cards, passports and driving licences.

use super::lexicon::Cat;
use super::numbers::{candidates, iban_shaped, Cand, Group};
use super::Doc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strength {
    /// Counts alone.
    Strong,
    /// Counts with an id word nearby.
    Context,
}
use Strength::*;

fn d(c: &Cand) -> &[u32] {
    c.digits()
}

fn num(d: &[u32]) -> u32 {
    d.iter().fold(0, |a, &x| a * 10 + x)
}

fn leap_ok(day: u32, month: u32) -> bool {
    let max = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 => 29,
        _ => return false,
    };
    (1..=max).contains(&day)
}

fn weighted(d: &[u32], w: &[u32]) -> u32 {
    d.iter().zip(w).map(|(a, b)| a * b).sum()
}

pub fn luhn(d: &[u32]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            if i % 2 == 1 {
                (x * 2) % 9 + if x == 9 { 9 } else { 0 }
            } else {
                x
            }
        })
        .sum();
    !d.is_empty() && sum.is_multiple_of(10)
}

/// ISO 7064 MOD 11,10 (German tax id, Croatian OIB). The sums stay below twice their modulus
/// (digit + p ≤ 19, 2s ≤ 20), so each remainder is one conditional subtraction: this runs on
/// every 11-digit run of every number cluster, the scan's worst case included.
fn mod_11_10(d: &[u32]) -> bool {
    let mut p = 10;
    for &x in &d[..d.len() - 1] {
        let mut s = x + p;
        if s >= 10 {
            s -= 10;
        }
        if s == 0 {
            s = 10;
        }
        p = s * 2;
        if p >= 11 {
            p -= 11;
        }
    }
    // p is in 1..=10 here (2s is even, never 11 or 22).
    let check = 11 - p;
    (if check == 10 { 0 } else { check }) == d[d.len() - 1]
}

pub fn nl_bsn(d: &[u32]) -> bool {
    if d.len() != 9 {
        return false;
    }
    let s: i64 = d[..8]
        .iter()
        .enumerate()
        .map(|(i, &x)| (9 - i as i64) * x as i64)
        .sum::<i64>()
        - d[8] as i64;
    s % 11 == 0 && s != 0
}

pub fn pt_nif(d: &[u32]) -> bool {
    if d.len() != 9 || !matches!(d[0], 1..=3 | 5 | 6 | 8 | 9) {
        return false;
    }
    let s = weighted(d, &[9, 8, 7, 6, 5, 4, 3, 2]);
    let c = match 11 - s % 11 {
        10 | 11 => 0,
        c => c,
    };
    c == d[8]
}

pub fn pl_pesel(d: &[u32]) -> bool {
    if d.len() != 11 {
        return false;
    }
    let s = weighted(d, &[1, 3, 7, 9, 1, 3, 7, 9, 1, 3]);
    let month = (d[2] * 10 + d[3]) % 20;
    let day = d[4] * 10 + d[5];
    (10 - s % 10) % 10 == d[10] && leap_ok(day, month)
}

pub fn pl_nip(d: &[u32]) -> bool {
    d.len() == 10 && weighted(d, &[6, 5, 7, 2, 3, 4, 5, 6, 7]) % 11 == d[9]
}

/// DE Steuer-IdNr and HR OIB: the same ISO 7064 MOD 11,10 check over 11 digits (an IdNr never
/// starts with 0), computed once for both on every 11-digit run.
fn de_idnr_hr_oib(d: &[u32]) -> (bool, bool) {
    let ok = d.len() == 11 && mod_11_10(d);
    (ok && d[0] != 0, ok)
}

#[cfg(test)]
fn de_idnr(d: &[u32]) -> bool {
    de_idnr_hr_oib(d).0
}

pub fn be_nn(d: &[u32]) -> bool {
    if d.len() != 11 {
        return false;
    }
    let n = num(&d[..9]) as u64;
    let k = num(&d[9..]) as u64;
    let month = d[2] * 10 + d[3];
    let day = d[4] * 10 + d[5];
    // Month or day 0 are allowed for people whose birth date is unknown.
    (month <= 12 && day <= 31) && (97 - n % 97 == k || 97 - (2_000_000_000 + n) % 97 == k)
}

pub fn fr_nir(c: &[u8]) -> bool {
    // S YY MM DD(department, 2A/2B in Corsica) CCC OOO KK; the key is 97 - (first 13 mod 97).
    if c.len() != 15 || !matches!(c[0], b'1' | b'2' | b'3' | b'4' | b'7' | b'8') {
        return false;
    }
    let mut n: u64 = 0;
    for (i, &ch) in c[..13].iter().enumerate() {
        let v = match (i, ch) {
            (_, b'0'..=b'9') => (ch - b'0') as u64,
            // "2A" counts as 19, "2B" as 18.
            (6, b'A') if c[5] == b'2' => {
                n = n / 10 * 10 + 1;
                9
            }
            (6, b'B') if c[5] == b'2' => {
                n = n / 10 * 10 + 1;
                8
            }
            _ => return false,
        };
        n = n * 10 + v;
    }
    if !c[13..].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let k = ((c[13] - b'0') * 10 + (c[14] - b'0')) as u64;
    97 - n % 97 == k
}

pub fn es_dni(c: &[u8]) -> bool {
    const L: &[u8] = b"TRWAGMYFPDXBNJZSQVHLCKE";
    if c.len() != 9 || !c[8].is_ascii_uppercase() {
        return false;
    }
    let lead = match c[0] {
        b'X' => 0,
        b'Y' => 1,
        b'Z' => 2,
        b'0'..=b'9' => (c[0] - b'0') as u32,
        _ => return false,
    };
    if !c[1..8].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let n = c[1..8]
        .iter()
        .fold(lead, |a, &x| a * 10 + (x - b'0') as u32);
    L[(n % 23) as usize] == c[8]
}

pub fn it_cf(c: &[u8]) -> bool {
    const ODD: [u32; 26] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24,
        23,
    ];
    if c.len() != 16 {
        return false;
    }
    // Letters, digit-or-omocode positions, month letter.
    let omocode = |x: u8| x.is_ascii_digit() || b"LMNPQRSTUV".contains(&x);
    let shape = c[..6].iter().all(u8::is_ascii_uppercase)
        && [6, 7, 9, 10, 12, 13, 14].iter().all(|&i| omocode(c[i]))
        && b"ABCDEHLMPRST".contains(&c[8])
        && c[11].is_ascii_uppercase()
        && c[15].is_ascii_uppercase();
    if !shape {
        return false;
    }
    let mut sum = 0;
    for (i, &ch) in c[..15].iter().enumerate() {
        let v = if ch.is_ascii_digit() {
            (ch - b'0') as usize
        } else {
            (ch - b'A') as usize
        };
        sum += if i % 2 == 0 { ODD[v] } else { v as u32 };
    }
    c[15] == b'A' + (sum % 26) as u8
}

pub fn se_pnr(d: &[u32]) -> bool {
    let d = match d.len() {
        12 => &d[2..],
        10 => d,
        _ => return false,
    };
    let month = d[2] * 10 + d[3];
    // Day + 60: coordination numbers.
    let day = (d[4] * 10 + d[5]) % 60;
    leap_ok(day, month) && luhn(d)
}

pub fn fi_hetu(c: &[u8]) -> bool {
    const CHECK: &[u8] = b"0123456789ABCDEFHJKLMNPRSTUVWXY";
    // DDMMYY C NNN X, the century sign C may have been taken as a separator.
    let (date, rest) = match c.len() {
        11 if b"ABCDEFUVWXY".contains(&c[6]) => (&c[..6], &c[7..]),
        10 => (&c[..6], &c[6..]),
        _ => return false,
    };
    if !date.iter().chain(&rest[..3]).all(u8::is_ascii_digit) {
        return false;
    }
    let dd = |i: usize| (date[i] - b'0') as u32 * 10 + (date[i + 1] - b'0') as u32;
    let n: u64 = date
        .iter()
        .chain(&rest[..3])
        .fold(0, |a, &x| a * 10 + (x - b'0') as u64);
    leap_ok(dd(0), dd(2)) && CHECK[(n % 31) as usize] == rest[3]
}

pub fn dk_cpr_date(d: &[u32]) -> bool {
    d.len() == 10 && leap_ok(d[0] * 10 + d[1], d[2] * 10 + d[3])
}

pub fn dk_cpr_mod11(d: &[u32]) -> bool {
    dk_cpr_date(d) && weighted(d, &[4, 3, 2, 7, 6, 5, 4, 3, 2, 1]).is_multiple_of(11)
}

pub fn no_fnr(d: &[u32]) -> bool {
    if d.len() != 11 {
        return false;
    }
    let k1 = (11 - weighted(d, &[3, 7, 6, 1, 8, 9, 4, 5, 2]) % 11) % 11;
    let k2 = (11 - weighted(d, &[5, 4, 3, 2, 7, 6, 5, 4, 3, 2]) % 11) % 11;
    let day = (d[0] * 10 + d[1]) % 40;
    let month = (d[2] * 10 + d[3]) % 40;
    k1 == d[9] && k2 == d[10] && leap_ok(day, month)
}

pub fn cz_rc(d: &[u32]) -> bool {
    if d.len() != 10 {
        return false;
    }
    let month = (d[2] * 10 + d[3]) % 50 % 20;
    let day = d[4] * 10 + d[5];
    let n = d[..9].iter().fold(0u64, |a, &x| a * 10 + x as u64);
    leap_ok(day, month) && (n % 11 % 10) as u32 == d[9]
}

pub fn at_svnr(d: &[u32]) -> bool {
    if d.len() != 10 || d[0] == 0 {
        return false;
    }
    let c = weighted(d, &[3, 7, 9, 0, 5, 8, 4, 2, 1, 6]) % 11;
    // Month 13-15: date partly unknown.
    let month = d[6] * 10 + d[7];
    let day = d[4] * 10 + d[5];
    c == d[3] && (leap_ok(day, month) || (13..=15).contains(&month) && day <= 31)
}

pub fn bg_egn(d: &[u32]) -> bool {
    if d.len() != 10 {
        return false;
    }
    let month = (d[2] * 10 + d[3]) % 20;
    weighted(d, &[2, 4, 8, 5, 10, 9, 7, 3, 6]) % 11 % 10 == d[9] && leap_ok(d[4] * 10 + d[5], month)
}

pub fn is_kennitala(d: &[u32]) -> bool {
    d.len() == 10
        && matches!(d[9], 0 | 8 | 9)
        && weighted(d, &[3, 2, 7, 6, 5, 4, 3, 2, 1]).is_multiple_of(11)
        && leap_ok((d[0] * 10 + d[1]) % 40, d[2] * 10 + d[3])
}

pub fn ee_ik(d: &[u32]) -> bool {
    if d.len() != 11 || !(1..=6).contains(&d[0]) {
        return false;
    }
    let mut c = d[..10]
        .iter()
        .enumerate()
        .map(|(i, &x)| ((i % 9) as u32 + 1) * x)
        .sum::<u32>()
        % 11;
    if c == 10 {
        c = d[..10]
            .iter()
            .enumerate()
            .map(|(i, &x)| (((i + 2) % 9) as u32 + 1) * x)
            .sum::<u32>()
            % 11;
    }
    c % 10 == d[10] && leap_ok(d[5] * 10 + d[6], d[3] * 10 + d[4])
}

pub fn lv_pk(d: &[u32]) -> bool {
    d.len() == 11
        && d[0] <= 3
        && (1 + weighted(d, &[10, 5, 8, 4, 2, 1, 6, 3, 7, 9])) % 11 % 10 == d[10]
        && leap_ok(d[0] * 10 + d[1], d[2] * 10 + d[3])
}

pub fn ro_cnp(d: &[u32]) -> bool {
    if d.len() != 13 || d[0] == 0 {
        return false;
    }
    let c = weighted(d, &[2, 7, 9, 1, 4, 6, 3, 5, 8, 2, 7, 9]) % 11;
    let c = if c == 10 { 1 } else { c };
    let county = d[7] * 10 + d[8];
    c == d[12]
        && leap_ok(d[5] * 10 + d[6], d[3] * 10 + d[4])
        && ((1..=52).contains(&county) || county == 70)
}

pub fn si_emso(d: &[u32]) -> bool {
    if d.len() != 13 {
        return false;
    }
    let t = weighted(d, &[7, 6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2]);
    (11 - t % 11) % 11 % 10 == d[12] && leap_ok(d[0] * 10 + d[1], d[2] * 10 + d[3])
}

pub fn gr_amka(d: &[u32]) -> bool {
    d.len() == 11 && luhn(d) && leap_ok(d[0] * 10 + d[1], d[2] * 10 + d[3])
}

#[cfg(test)]
fn hr_oib(d: &[u32]) -> bool {
    de_idnr_hr_oib(d).1
}

pub fn hu_taj(d: &[u32]) -> bool {
    d.len() == 9 && weighted(d, &[3, 7, 3, 7, 3, 7, 3, 7]) % 10 == d[8]
}

pub fn ch_ahv(d: &[u32]) -> bool {
    if d.len() != 13 || d[..3] != [7, 5, 6] {
        return false;
    }
    let s: u32 = d[..12]
        .iter()
        .enumerate()
        .map(|(i, &x)| if i % 2 == 0 { x } else { 3 * x })
        .sum();
    (10 - s % 10) % 10 == d[12]
}

pub fn gb_nhs(d: &[u32]) -> bool {
    if d.len() != 10 {
        return false;
    }
    let c = 11 - weighted(d, &[10, 9, 8, 7, 6, 5, 4, 3, 2]) % 11;
    let c = if c == 11 { 0 } else { c };
    c != 10 && c == d[9]
}

pub fn gb_nino(c: &[u8]) -> bool {
    c.len() == 9
        && c[0].is_ascii_uppercase()
        && c[1].is_ascii_uppercase()
        && !b"DFIQUV".contains(&c[0])
        && !b"DFIQUVO".contains(&c[1])
        && !matches!(
            &c[..2],
            b"BG" | b"GB" | b"NK" | b"KN" | b"TN" | b"NT" | b"ZZ"
        )
        && c[2..8].iter().all(u8::is_ascii_digit)
        && b"ABCD".contains(&c[8])
}

pub fn ie_pps(c: &[u8]) -> bool {
    const A: &[u8] = b"WABCDEFGHIJKLMNOPQRSTUV";
    if !(8..=9).contains(&c.len()) || !c[..7].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let second = match c.get(8) {
        None => 0,
        Some(&x) => match A.iter().position(|&a| a == x) {
            Some(p) if b"ABHW".contains(&x) => p as u32,
            _ => return false,
        },
    };
    let s: u32 = c[..7]
        .iter()
        .enumerate()
        .map(|(i, &x)| (8 - i as u32) * (x - b'0') as u32)
        .sum::<u32>()
        + 9 * second;
    A[(s % 23) as usize] == c[7]
}

/// Verhoeff check (Luxembourg matricule).
fn verhoeff(d: &[u32]) -> bool {
    const M: [[u8; 10]; 10] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
        [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
        [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
        [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
        [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
        [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
        [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
        [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ];
    const P: [[u8; 10]; 8] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
        [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
        [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
        [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
        [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
        [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
        [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
    ];
    let mut c = 0u8;
    for (i, &x) in d.iter().rev().enumerate() {
        c = M[c as usize][P[i % 8][x as usize] as usize];
    }
    c == 0
}

pub fn lu_matricule(d: &[u32]) -> bool {
    d.len() == 13
        && matches!(d[0] * 10 + d[1], 18..=20)
        && leap_ok(d[6] * 10 + d[7], d[4] * 10 + d[5])
        && luhn(&d[..12])
        && verhoeff(&[&d[..11], &d[12..]].concat())
}

pub fn de_rvnr(c: &[u8]) -> bool {
    // NN DDMMYY L NN C: area, birth date, initial of the birth name, serial, check.
    if c.len() != 12
        || !c[8].is_ascii_uppercase()
        || !c[..8].iter().chain(&c[9..]).all(u8::is_ascii_digit)
    {
        return false;
    }
    let v = |i: usize| (c[i] - b'0') as u32;
    if !leap_ok(v(2) * 10 + v(3), v(4) * 10 + v(5)) {
        return false;
    }
    let letter = (c[8] - b'A') as u32 + 1;
    let seq = [
        v(0),
        v(1),
        v(2),
        v(3),
        v(4),
        v(5),
        v(6),
        v(7),
        letter / 10,
        letter % 10,
        v(9),
        v(10),
    ];
    let w = [2, 1, 2, 5, 7, 1, 2, 1, 2, 1, 2, 1];
    let s: u32 = seq
        .iter()
        .zip(w)
        .map(|(&x, w)| {
            let p = x * w;
            p / 10 + p % 10
        })
        .sum();
    s % 10 == v(11)
}

pub fn pl_id_card(c: &[u8]) -> bool {
    if c.len() != 9
        || !c[..3].iter().all(u8::is_ascii_uppercase)
        || !c[3..].iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    let val = |x: u8| {
        if x.is_ascii_digit() {
            (x - b'0') as u32
        } else {
            (x - b'A') as u32 + 10
        }
    };
    let w = [7, 3, 1, 9, 7, 3, 1, 7, 3];
    c.iter().zip(w).map(|(&x, w)| val(x) * w).sum::<u32>() % 10 == 0
}

pub fn pt_cc(c: &[u8]) -> bool {
    // 8 digits, check digit, two letters, check digit: Luhn over base-36 values.
    if c.len() != 12
        || !c[..9].iter().all(u8::is_ascii_digit)
        || !c[9..11].iter().all(u8::is_ascii_uppercase)
        || !c[11].is_ascii_digit()
    {
        return false;
    }
    let val = |x: u8| (x as char).to_digit(36).unwrap_or(0);
    let s: u32 = c
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            if i % 2 == 1 {
                let y = val(x) * 2;
                if y > 9 {
                    y - 9
                } else {
                    y
                }
            } else {
                val(x)
            }
        })
        .sum();
    s.is_multiple_of(10)
}

/// The shortest id `check` knows (an Irish PPS number).
const ID_MIN: usize = 8;

/// The strength of the best id format `c` is valid in, if any.
pub fn check(c: &Cand) -> Option<Strength> {
    let ch = c.chars();
    let lens = c.lens();
    let seps = c.seps();
    let n = ch.len();
    let digits_only = c.all_digits();
    let mut best: Option<Strength> = None;
    let mut hit = |s: Strength| {
        if best != Some(Strong) {
            best = Some(s);
        }
    };
    let sep_at =
        |i: usize, sep: &[u8]| lens.len() == 2 && lens[0] as usize == i && sep.contains(&seps[0]);
    if digits_only {
        let d = d(c);
        match n {
            9 if (nl_bsn(d) || pt_nif(d) || hu_taj(d)) => {
                hit(Context);
            }
            10 => {
                if se_pnr(d) {
                    hit(if sep_at(6, b"-+") { Strong } else { Context });
                }
                if dk_cpr_date(d) && sep_at(6, b"-") {
                    hit(if dk_cpr_mod11(d) { Strong } else { Context });
                } else if dk_cpr_date(d) {
                    hit(Context);
                }
                if cz_rc(d) {
                    hit(if sep_at(6, b"/") { Strong } else { Context });
                }
                if at_svnr(d) {
                    hit(if sep_at(4, b" ") { Strong } else { Context });
                }
                if is_kennitala(d) {
                    hit(if sep_at(6, b"-") { Strong } else { Context });
                }
                if bg_egn(d) || pl_nip(d) {
                    hit(Context);
                }
                if gb_nhs(d) {
                    hit(if lens == [3, 3, 4] { Strong } else { Context });
                }
                if fi_hetu(ch) && sep_at(6, b"-+") {
                    hit(Strong);
                }
            }
            11 => {
                if pl_pesel(d) || be_nn(d) || no_fnr(d) || ee_ik(d) {
                    hit(Strong);
                }
                if lv_pk(d) {
                    hit(if sep_at(6, b"-") { Strong } else { Context });
                }
                let (de_idnr, hr_oib) = de_idnr_hr_oib(d);
                if de_idnr {
                    hit(if lens == [2, 3, 3, 3] {
                        Strong
                    } else {
                        Context
                    });
                }
                if hr_oib || gr_amka(d) {
                    hit(Context);
                }
            }
            12 if se_pnr(d) => {
                hit(Strong);
            }
            13 if (ro_cnp(d) || si_emso(d) || ch_ahv(d) || lu_matricule(d)) => {
                hit(Strong);
            }
            15 if fr_nir(ch) => {
                hit(Strong);
            }
            _ => {}
        }
    } else {
        match n {
            8 | 9 if ie_pps(ch) => hit(Strong),
            _ => {}
        }
        match n {
            9 if (es_dni(ch) || gb_nino(ch) || pl_id_card(ch)) => {
                hit(Strong);
            }
            10 if fi_hetu(ch) && sep_at(6, b"-+") => hit(Strong),
            11 if fi_hetu(ch) => {
                hit(Strong);
            }
            12 if (de_rvnr(ch) || pt_cc(ch)) => {
                hit(Strong);
            }
            15 if fr_nir(ch) => {
                hit(Strong);
            }
            16 if it_cf(ch) => {
                hit(Strong);
            }
            _ => {}
        }
    }
    best
}

/// How far before (and after) a number an id word may stand.
const CONTEXT_BEFORE: usize = 64;
const CONTEXT_AFTER: usize = 32;

fn start_ok(g: &Group) -> bool {
    g.len() >= 1
}

/// A number introduced as an order, invoice or ticket reference (and not as an id).
pub fn business_reference(doc: &Doc, start: usize, end: usize) -> bool {
    doc.hits
        .any_in(Cat::NotPersonalNumber, start.saturating_sub(40), start)
        && !doc.hits.any_in(
            Cat::IdContext,
            start.saturating_sub(CONTEXT_BEFORE),
            end + CONTEXT_AFTER,
        )
}

/// Letter groups the cluster pass leaves out because they stand apart from the digits: up to two
/// short letter words before (`X 6675501 G`, `AB 12 34 56 C`, `RSS MRA 85T10 A562S`) and one
/// after (`12345678-Z`). Returns the cluster with them, or `None` when there are none.
fn with_letters(text: &str, groups: &[Group]) -> Option<Vec<Group>> {
    let b = text.as_bytes();
    let letters = |s: usize, e: usize| {
        let w = &b[s..e];
        !w.is_empty()
            && w.iter().all(u8::is_ascii_alphabetic)
            && (w.len() <= 2 || w.len() <= 4 && w.iter().all(u8::is_ascii_uppercase))
    };
    let gap = |i: usize, j: usize| {
        j > i && j - i <= 3 && b[i..j].iter().all(|&c| matches!(c, b' ' | b'-' | b'.'))
    };
    let mut lead = Vec::new();
    let mut at = groups[0].start;
    for _ in 0..2 {
        let mut e = at;
        while e > 0 && at - e < 3 && matches!(b[e - 1], b' ' | b'-' | b'.') {
            e -= 1;
        }
        let mut s = e;
        while s > 0 && b[s - 1].is_ascii_alphanumeric() && e - s < 5 {
            s -= 1;
        }
        if s == e || !gap(e, at) || !letters(s, e) || (s > 0 && b[s - 1].is_ascii_alphanumeric()) {
            break;
        }
        lead.push(Group {
            start: s,
            end: e,
            digits: 0,
        });
        at = s;
    }
    let last = groups[groups.len() - 1].end;
    let mut s = last;
    while s < b.len() && s - last < 3 && matches!(b[s], b' ' | b'-' | b'.') {
        s += 1;
    }
    let mut e = s;
    while e < b.len() && b[e].is_ascii_alphanumeric() && e - s < 3 {
        e += 1;
    }
    let trail = (gap(last, s)
        && e > s
        && e - s <= 2
        && letters(s, e)
        && !b.get(e).is_some_and(u8::is_ascii_alphanumeric)
        && b[last - 1].is_ascii_digit())
    .then_some(Group {
        start: s,
        end: e,
        digits: 0,
    });
    if lead.is_empty() && trail.is_none() {
        return None;
    }
    lead.reverse();
    lead.extend_from_slice(groups);
    lead.extend(trail);
    Some(lead)
}

/// A national mobile number is a phone, whatever digits it happens to check, unless it is grouped
/// as an id with a birth date first (`060277-1393`, `072427 22134`).
fn phone_not_id(c: &Cand) -> bool {
    c.all_digits() && super::contact::trunk_mobile(c.digits()) && c.lens()[0] != 6
}

/// Any national id in the document.
pub fn detect(doc: &Doc) -> bool {
    let id_word_near = |c: &Cand| {
        doc.hits.any_in(
            Cat::IdContext,
            c.start.saturating_sub(CONTEXT_BEFORE),
            c.end + CONTEXT_AFTER,
        )
    };
    let found = |groups: &[Group]| {
        candidates(
            doc.text,
            groups,
            7,
            ID_MIN..=16,
            start_ok,
            // The phone test only for what checks as an id (most runs check as nothing).
            |c| match check(c) {
                None => false,
                Some(_) if phone_not_id(c) && !id_word_near(c) => false,
                Some(Strong) => true,
                Some(Context) => id_word_near(c),
            },
        )
    };
    doc.clusters.iter().any(|groups: &[Group]| {
        if iban_shaped(doc.text, groups) || business_reference(doc, groups[0].start, groups[0].end)
        {
            return false;
        }
        // `+39 347 390 0729`: an international phone number, whatever its digits check.
        let before = doc.text[..groups[0].start].trim_end_matches(' ');
        if before.ends_with('+') {
            return false;
        }
        found(groups) || with_letters(doc.text, groups).is_some_and(|g| found(&g))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits(s: &str) -> Vec<u32> {
        s.chars().filter_map(|c| c.to_digit(10)).collect()
    }

    /// The conditional-subtraction form is the textbook one with `%`, on every 11-digit number
    /// of a seeded sample and on the edges.
    #[test]
    fn mod_11_10_is_the_textbook_definition() {
        fn textbook(d: &[u32]) -> bool {
            let mut p = 10;
            for &x in &d[..d.len() - 1] {
                let mut s = (x + p) % 10;
                if s == 0 {
                    s = 10;
                }
                p = (s * 2) % 11;
            }
            (11 - p) % 10 == d[d.len() - 1]
        }
        use rand::{rngs::StdRng, Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(1207);
        let mut numbers: Vec<Vec<u32>> = vec![vec![0; 11], vec![9; 11], digits("59728364903")];
        for _ in 0..20_000 {
            numbers.push((0..11).map(|_| rng.gen_range(0..10)).collect());
        }
        for d in numbers {
            assert_eq!(mod_11_10(&d), textbook(&d), "{d:?}");
        }
    }

    /// Valid numbers (python-stdnum agrees) and the same with the last digit changed.
    #[test]
    fn check_digits_accept_valid_and_refuse_one_digit_off() {
        type V = fn(&[u32]) -> bool;
        let cases: &[(V, &str)] = &[
            (nl_bsn, "446434498"),
            (pt_nif, "277898340"),
            (pl_pesel, "83071021907"),
            (de_idnr, "59728364903"),
            (be_nn, "73102869271"),
            (se_pnr, "8803019580"),
            (dk_cpr_mod11, "0707610743"),
            (no_fnr, "16086361918"),
            (cz_rc, "7701058585"),
            (at_svnr, "1237010180"),
            (bg_egn, "8311172748"),
            (ee_ik, "37611180116"),
            (ee_ik, "32008238056"),
            (lv_pk, "27050017493"),
            (ro_cnp, "1820215027759"),
            (gr_amka, "07065511839"),
            (hr_oib, "15092370482"),
            (ch_ahv, "7566995824661"),
            (gb_nhs, "1876297026"),
        ];
        for (v, s) in cases {
            let d = digits(s);
            assert!(v(&d), "{s} should be valid");
            let mut bad = d.clone();
            let last = bad.len() - 1;
            bad[last] = (bad[last] + 1) % 10;
            assert!(
                !v(&bad),
                "{s} with its last digit changed should be invalid"
            );
        }
    }

    #[test]
    fn kennitala_checks_its_ninth_digit() {
        assert!(is_kennitala(&digits("2505683989")));
        assert!(!is_kennitala(&digits("2505683979")));
        // The last digit is the century: 8, 9 or 0 only.
        assert!(!is_kennitala(&digits("2505683985")));
    }

    #[test]
    fn lettered_formats() {
        type C = fn(&[u8]) -> bool;
        let ok: &[(C, &str)] = &[
            (es_dni, "82840825T"),
            (es_dni, "X6277279G"),
            (it_cf, "RSSMRA85T10A562S"),
            (fr_nir, "158890375472733"),
            (fi_hetu, "010371A339A"),
            (ie_pps, "7785964J"),
            (gb_nino, "AB123456C"),
            (pl_id_card, "ABA300000"),
        ];
        for (v, s) in ok {
            assert!(v(s.as_bytes()), "{s}");
        }
        let bad: &[(C, &str)] = &[
            (es_dni, "82840825A"),
            (it_cf, "RSSMRA85T10A562T"),
            (fr_nir, "158890375472734"),
            (fi_hetu, "010371A339B"),
            (ie_pps, "7785964K"),
            (gb_nino, "DQ123456C"),
            (pl_id_card, "ABA300001"),
        ];
        for (v, s) in bad {
            assert!(!v(s.as_bytes()), "{s}");
        }
    }

    #[test]
    fn verhoeff_and_luhn() {
        assert!(verhoeff(&digits("2363")));
        assert!(!verhoeff(&digits("2364")));
        assert!(luhn(&digits("79927398713")));
        assert!(!luhn(&digits("79927398714")));
    }
}
