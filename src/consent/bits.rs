//! Bounds-checked reading of base64url bit strings (IAB TCF and GPP).

/// Why a bit string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BitsError {
    /// A character outside the base64url alphabet (padding included).
    #[error("invalid base64url character")]
    Base64,
    /// The string ended before a field did.
    #[error("string too short: field needs bit {0}")]
    Short(usize),
    /// A value out of its allowed range.
    #[error("invalid value: {0}")]
    Invalid(&'static str),
}

fn sextet(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

/// A reader over the bits of a base64url string (6 bits per character, no padding).
#[derive(Debug, Clone)]
pub struct Bits {
    bits: Vec<bool>,
    pos: usize,
}

impl Bits {
    /// Decodes `s`; any character outside `A-Z a-z 0-9 - _` is an error.
    pub fn from_base64url(s: &str) -> Result<Self, BitsError> {
        let mut bits = Vec::with_capacity(s.len() * 6);
        for c in s.bytes() {
            let v = sextet(c).ok_or(BitsError::Base64)?;
            for i in (0..6).rev() {
                bits.push(v >> i & 1 == 1);
            }
        }
        Ok(Bits { bits, pos: 0 })
    }

    /// Bits not read yet.
    pub fn remaining(&self) -> usize {
        self.bits.len().saturating_sub(self.pos)
    }

    /// One bit.
    pub fn bool(&mut self) -> Result<bool, BitsError> {
        let b = *self.bits.get(self.pos).ok_or(BitsError::Short(self.pos))?;
        self.pos += 1;
        Ok(b)
    }

    /// An unsigned integer of `n` bits (n <= 64), most significant first.
    pub fn int(&mut self, n: usize) -> Result<u64, BitsError> {
        if self.pos + n > self.bits.len() {
            return Err(BitsError::Short(self.pos + n));
        }
        let mut v = 0u64;
        for _ in 0..n {
            v = v << 1 | u64::from(self.bool()?);
        }
        Ok(v)
    }

    /// The 1-based indexes of the set bits of an `n`-bit field.
    pub fn bitfield(&mut self, n: usize) -> Result<Vec<u32>, BitsError> {
        if self.pos + n > self.bits.len() {
            return Err(BitsError::Short(self.pos + n));
        }
        let mut set = Vec::new();
        for i in 1..=n {
            if self.bool()? {
                set.push(u32::try_from(i).map_err(|_| BitsError::Invalid("bitfield too long"))?);
            }
        }
        Ok(set)
    }

    /// Two letters coded on 6 bits each (A = 0).
    pub fn letters(&mut self) -> Result<String, BitsError> {
        let mut s = String::with_capacity(2);
        for _ in 0..2 {
            let v = u8::try_from(self.int(6)?).map_err(|_| BitsError::Invalid("letter"))?;
            s.push(char::from(b'A' + v));
        }
        Ok(s)
    }

    /// A Fibonacci-coded positive integer (GPP): Zeckendorf bits, ended by `11`.
    pub fn fibonacci(&mut self) -> Result<u64, BitsError> {
        let (mut a, mut b) = (1u64, 2u64);
        let mut value = 0u64;
        let mut last = false;
        for _ in 0..90 {
            let bit = self.bool()?;
            if bit && last {
                return Ok(value);
            }
            if bit {
                value = value
                    .checked_add(a)
                    .ok_or(BitsError::Invalid("fibonacci overflow"))?;
            }
            last = bit;
            let next = a.saturating_add(b);
            a = b;
            b = next;
        }
        Err(BitsError::Invalid("fibonacci integer too long"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_refuses_bad_input() {
        let mut b = Bits::from_base64url("CA").unwrap(); // 000010 000000
        assert_eq!(b.int(6), Ok(2));
        assert_eq!(b.remaining(), 6);
        assert_eq!(b.int(7), Err(BitsError::Short(13)));
        assert_eq!(Bits::from_base64url("AB=").unwrap_err(), BitsError::Base64);
        assert_eq!(Bits::from_base64url("A+").unwrap_err(), BitsError::Base64);
        let mut b = Bits::from_base64url("_w").unwrap(); // 111111 110000
        assert_eq!(b.bitfield(8), Ok(vec![1, 2, 3, 4, 5, 6, 7, 8]));
    }

    #[test]
    fn fibonacci_integers() {
        // 1 = "11", 2 = "011", 3 = "0011", 4 = "1011", 12 = "101011".
        for (bits, want) in [
            ("11", 1),
            ("011", 2),
            ("0011", 3),
            ("1011", 4),
            ("101011", 12),
        ] {
            let mut all: Vec<bool> = bits.bytes().map(|b| b == b'1').collect();
            all.resize(12, false);
            let mut b = Bits { bits: all, pos: 0 };
            assert_eq!(b.fibonacci(), Ok(want), "{bits}");
        }
    }
}
