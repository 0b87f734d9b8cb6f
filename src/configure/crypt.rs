//! SHA-512 crypt (`$6$`), as glibc/libxcrypt implement Ulrich Drepper's "Unix crypt using
//! SHA-256 and SHA-512" specification; written from the specification, checked against
//! `openssl passwd -6`.

use sha2::{Digest, Sha512};

const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const ROUNDS_DEFAULT: u32 = 5000;
const SALT_MAX: usize = 16;

/// `$6$salt$hash` of `password`. `salt` may start with `rounds=N$`; it is cut to 16 characters
/// and at the first `$`, as the C implementations do.
pub fn sha512_crypt(password: &str, salt: &str) -> String {
    let (rounds, custom, salt) = match salt.strip_prefix("rounds=").and_then(|r| r.split_once('$'))
    {
        Some((n, rest)) if n.parse::<u64>().is_ok() => {
            let n = n.parse::<u64>().unwrap_or(ROUNDS_DEFAULT as u64);
            (n.clamp(1000, 999_999_999) as u32, true, rest)
        }
        _ => (ROUNDS_DEFAULT, false, salt),
    };
    let salt = salt.split('$').next().unwrap_or("");
    let salt = &salt.as_bytes()[..salt.len().min(SALT_MAX)];
    let pw = password.as_bytes();

    let b = Sha512::new()
        .chain_update(pw)
        .chain_update(salt)
        .chain_update(pw)
        .finalize();
    let mut a = Sha512::new().chain_update(pw).chain_update(salt);
    let mut n = pw.len();
    while n > 64 {
        a.update(b);
        n -= 64;
    }
    a.update(&b[..n]);
    let mut n = pw.len();
    while n > 0 {
        if n & 1 == 1 {
            a.update(b);
        } else {
            a.update(pw);
        }
        n >>= 1;
    }
    let a = a.finalize();

    let mut dp = Sha512::new();
    for _ in 0..pw.len() {
        dp.update(pw);
    }
    let p = repeat_to(&dp.finalize(), pw.len());
    let mut ds = Sha512::new();
    for _ in 0..16 + a[0] as usize {
        ds.update(salt);
    }
    let s = repeat_to(&ds.finalize(), salt.len());

    let mut c: Vec<u8> = a.to_vec();
    for i in 0..rounds {
        let mut h = Sha512::new();
        if i & 1 == 1 {
            h.update(&p);
        } else {
            h.update(&c);
        }
        if i % 3 != 0 {
            h.update(&s);
        }
        if i % 7 != 0 {
            h.update(&p);
        }
        if i & 1 == 1 {
            h.update(&c);
        } else {
            h.update(&p);
        }
        c = h.finalize().to_vec();
    }

    let mut out = String::from("$6$");
    if custom {
        out.push_str(&format!("rounds={rounds}$"));
    }
    out.push_str(&String::from_utf8_lossy(salt));
    out.push('$');
    const ORDER: [(usize, usize, usize); 21] = [
        (0, 21, 42),
        (22, 43, 1),
        (44, 2, 23),
        (3, 24, 45),
        (25, 46, 4),
        (47, 5, 26),
        (6, 27, 48),
        (28, 49, 7),
        (50, 8, 29),
        (9, 30, 51),
        (31, 52, 10),
        (53, 11, 32),
        (12, 33, 54),
        (34, 55, 13),
        (56, 14, 35),
        (15, 36, 57),
        (37, 58, 16),
        (59, 17, 38),
        (18, 39, 60),
        (40, 61, 19),
        (62, 20, 41),
    ];
    for (x, y, z) in ORDER {
        b64(&mut out, c[x], c[y], c[z], 4);
    }
    b64(&mut out, 0, 0, c[63], 2);
    out
}

fn repeat_to(digest: &[u8], len: usize) -> Vec<u8> {
    digest.iter().copied().cycle().take(len).collect()
}

fn b64(out: &mut String, b2: u8, b1: u8, b0: u8, n: usize) {
    let mut w = ((b2 as u32) << 16) | ((b1 as u32) << 8) | b0 as u32;
    for _ in 0..n {
        out.push(ITOA64[(w & 0x3f) as usize] as char);
        w >>= 6;
    }
}

/// A 16-character salt from the kernel's random source.
pub fn random_salt() -> std::io::Result<String> {
    let mut buf = [0u8; SALT_MAX];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut buf)?;
    Ok(buf
        .iter()
        .map(|b| ITOA64[(b & 0x3f) as usize] as char)
        .collect())
}

/// A salt derived from the password and a seed: reproducible builds get the same hash for the
/// same inputs (the salt is public in the hash anyway).
pub fn derived_salt(password: &str, seed: &str) -> String {
    let d = Sha512::new()
        .chain_update(b"kiln-salt\0")
        .chain_update(seed.as_bytes())
        .chain_update(b"\0")
        .chain_update(password.as_bytes())
        .finalize();
    d.iter()
        .take(SALT_MAX)
        .map(|b| ITOA64[(b & 0x3f) as usize] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vectors of Drepper's specification (also glibc's `tst-sha512c`).
    #[test]
    fn specification_vectors() {
        assert_eq!(
            sha512_crypt("Hello world!", "saltstring"),
            "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"
        );
        assert_eq!(
            sha512_crypt("Hello world!", "rounds=10000$saltstringsaltstring"),
            "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."
        );
        assert_eq!(
            sha512_crypt("we have a short salt string but not a short password", "rounds=77777$short"),
            "$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0"
        );
    }

    #[test]
    fn salts() {
        let s = random_salt().unwrap();
        assert_eq!(s.len(), 16);
        assert_ne!(s, random_salt().unwrap());
        assert_eq!(derived_salt("pw", "1"), derived_salt("pw", "1"));
        assert_ne!(derived_salt("pw", "1"), derived_salt("pw", "2"));
    }
}
