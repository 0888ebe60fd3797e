//! The fallback store: the same GCRA in this process's memory, used while
//! Redis is out of reach, so limits still hold (per replica) instead of
//! vanishing.

use std::{collections::HashMap, sync::Mutex, time::Instant};

use super::gcra::{self, Quota};

/// Keys kept at most; past it, keys whose budget is whole again are dropped,
/// and if that is not enough the store starts over (a flood of made-up
/// callers must not grow memory).
const MAX_KEYS: usize = 100_000;

/// TATs by key, on a clock that starts with the store.
#[derive(Debug)]
pub struct Local {
    epoch: Instant,
    tats: Mutex<HashMap<String, u64>>,
}

impl Default for Local {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            tats: Mutex::new(HashMap::new()),
        }
    }
}

impl Local {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// Like the shared store's check: `None` when allowed (and counted),
    /// `Some((index, wait_micros))` when refused.
    pub fn check(&self, keys: &[(String, Quota)]) -> Option<(usize, u64)> {
        let now = self.now();
        // A poisoned lock only means another call panicked mid-check; the
        // map is still a map.
        let mut tats = self
            .tats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let states: Vec<_> = keys
            .iter()
            .map(|(key, quota)| (tats.get(key).copied(), *quota))
            .collect();
        match gcra::decide_all(&states, now) {
            Ok(next) => {
                if tats.len() + keys.len() > MAX_KEYS {
                    tats.retain(|_, tat| *tat > now);
                    if tats.len() + keys.len() > MAX_KEYS {
                        tats.clear();
                    }
                }
                for ((key, _), tat) in keys.iter().zip(next) {
                    tats.insert(key.clone(), tat);
                }
                None
            }
            Err(denied) => Some(denied),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_together_and_only_allowed_calls_count() {
        let local = Local::default();
        let caller = Quota::new(0.001, 2).unwrap();
        let tenant = Quota::new(0.001, 3).unwrap();
        let call = |user: &str| {
            local.check(&[
                (format!("c:acme:{user}"), caller),
                ("t:acme".to_owned(), tenant),
            ])
        };
        assert_eq!(call("ana"), None);
        assert_eq!(call("ana"), None);
        // Ana's budget is spent; the refusal used none of the tenant's.
        assert_eq!(call("ana").map(|(i, _)| i), Some(0));
        assert_eq!(call("bo"), None);
        // Now the tenant's is spent too.
        assert_eq!(call("cy").map(|(i, _)| i), Some(1));
    }
}
