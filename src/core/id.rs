//! Identifiers that two machines can mint without talking to each other.
//!
//! Event ids are ULIDs (48-bit millisecond time + 80 random bits, Crockford
//! base32): unique across clones and roughly time-ordered, which makes them a
//! good tie-breaker after the logical clock. Run ids are `WF-` plus 80 random
//! bits only, so that short unique prefixes (like git's short hashes) work
//! from the first character instead of after a shared timestamp.

use std::io::Read;

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A random number below `n` (n > 0), for jitter.
pub fn random_below(n: u64) -> u64 {
    let mut b = [0u8; 8];
    random_bytes(&mut b);
    u64::from_le_bytes(b) % n
}

/// The prefix every run id carries.
pub const RUN_PREFIX: &str = "WF-";
pub const GOAL_PREFIX: &str = "WG-";

/// Fills `buf` from the operating system's random source (or, in a debug
/// build under `NEXO_TEST_SEED`, from a generator seeded by it).
fn random_bytes(buf: &mut [u8]) {
    if let Some(seed) = crate::trace::test_seed() {
        seeded_bytes(seed, buf);
        return;
    }
    if let Ok(mut f) = std::fs::File::open("/dev/urandom")
        && f.read_exact(buf).is_ok()
    {
        return;
    }
    // Platforms without /dev/urandom: std's hasher keys are seeded from the
    // OS random source per process; mixing in time and a counter keeps
    // successive values distinct.
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    for chunk in buf.chunks_mut(8) {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        let v = h.finish().to_be_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

/// splitmix64 over a process-wide state that starts at `seed`.
fn seeded_bytes(seed: u64, buf: &mut [u8]) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0);
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| STATE.store(seed, Ordering::Relaxed));
    for chunk in buf.chunks_mut(8) {
        let mut z = STATE
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_be_bytes()[..chunk.len()]);
    }
}

/// Encodes the low `bits` bits of `value` as Crockford base32, most
/// significant first; `bits` must be a multiple of 5.
fn base32(value: u128, bits: u32) -> String {
    (0..bits / 5)
        .rev()
        .map(|i| CROCKFORD[((value >> (i * 5)) & 31) as usize] as char)
        .collect()
}

/// A new ULID for an event, stamped with `unix_ms`.
pub fn new_event_id(unix_ms: u64) -> EventId {
    let mut r = [0u8; 10];
    random_bytes(&mut r);
    let mut random: u128 = 0;
    for b in r {
        random = (random << 8) | b as u128;
    }
    let value = ((unix_ms as u128 & ((1 << 48) - 1)) << 80) | random;
    // A ULID is 128 bits in 26 characters: the first carries 3 bits.
    EventId(base32(value, 130))
}

/// 80 random bits in 16 base32 characters: the body of run and goal ids.
fn random_name() -> String {
    let mut r = [0u8; 10];
    random_bytes(&mut r);
    let mut value: u128 = 0;
    for b in r {
        value = (value << 8) | b as u128;
    }
    base32(value, 80)
}

/// A new run id: `WF-` and 16 random base32 characters.
pub fn new_run_id() -> RunId {
    RunId(format!("{RUN_PREFIX}{}", random_name()))
}

/// A new goal id: `WG-` (the original's prefix) and 16 random base32
/// characters.
pub fn new_goal_id() -> GoalId {
    GoalId(format!("{GOAL_PREFIX}{}", random_name()))
}

/// Is `s` shaped like an event id we minted (used to validate histories)?
pub fn is_event_id(s: &str) -> bool {
    s.len() == 26 && s.bytes().all(|b| CROCKFORD.contains(&b))
}

/// Lowercase hex of `bytes`: digests used as names and cache keys.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_their_shape_and_differ() {
        let a = new_event_id(1_700_000_000_000);
        let b = new_event_id(1_700_000_000_000);
        assert!(is_event_id(&a), "{a}");
        assert_ne!(a, b);
        // The time prefix sorts with time.
        assert!(new_event_id(1) < new_event_id(2_000_000_000_000));
        let r = new_run_id();
        assert!(r.starts_with("WF-") && r.len() == 19, "{r}");
        assert_ne!(r, new_run_id());
    }
}

/// Defines a string newtype for an identifier: serialized as the bare
/// string, shown and compared as one, but a distinct type, so a run id
/// cannot be passed where an event id is meant.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_string())
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

id_type! {
    /// A run's id: `WF-` and 16 Crockford base32 characters.
    RunId
}

id_type! {
    /// An event's id: a ULID.
    EventId
}

id_type! {
    /// A goal's id: `WG-` and 16 Crockford base32 characters.
    GoalId
}
