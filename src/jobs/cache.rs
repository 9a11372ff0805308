//! Finished results by their spec: a view computed once comes back instantly. Bounded by count
//! (pictures and scores are small next to the model), oldest use first out.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::Arc;

use super::compute::Computed;
use super::spec::JobSpec;

/// The views' maps by their spec.
pub type Cache = Lru<JobSpec, Arc<Computed>>;

pub struct Lru<K, V> {
    capacity: usize,
    entries: HashMap<K, V>,
    /// Least recently used first.
    order: VecDeque<K>,
}

impl<K: Clone + Eq + Hash, V: Clone> Lru<K, V> {
    pub fn new(capacity: usize) -> Self {
        Lru {
            capacity: capacity.max(1),
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    pub fn get(&mut self, spec: &K) -> Option<V> {
        let hit = self.entries.get(spec)?.clone();
        self.touch(spec);
        Some(hit)
    }

    /// The value of `spec`, without counting as a use.
    pub fn peek(&self, spec: &K) -> Option<&V> {
        self.entries.get(spec)
    }

    /// Every entry, in no order (without counting as a use).
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter()
    }

    pub fn insert(&mut self, spec: K, value: V) {
        if self.entries.insert(spec.clone(), value).is_some() {
            self.touch(&spec);
            return;
        }
        self.order.push_back(spec);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.entries.remove(&old);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn touch(&mut self, spec: &K) {
        if let Some(i) = self.order.iter().position(|s| s == spec) {
            let s = self.order.remove(i).expect("present");
            self.order.push_back(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::spec::ViewKnobs;

    fn spec(target: usize) -> JobSpec {
        JobSpec {
            method: "gradcam",
            layer: None,
            target,
            knobs: ViewKnobs::default(),
            input: 1,
        }
    }

    fn computed() -> Arc<Computed> {
        Arc::new(Computed {
            picture: Arc::new(image::RgbImage::new(1, 1)),
            artifact: crate::methods::Artifact::Heatmap {
                height: 1,
                width: 1,
                data: vec![0.0],
            },
            problem: None,
            note: None,
        })
    }

    #[test]
    fn keeps_the_most_recently_used() {
        let mut c = Cache::new(2);
        c.insert(spec(0), computed());
        c.insert(spec(1), computed());
        assert!(c.get(&spec(0)).is_some()); // 0 is now the most recent
        c.insert(spec(2), computed());
        assert!(
            c.get(&spec(1)).is_none(),
            "the least recently used goes first"
        );
        assert!(c.get(&spec(0)).is_some() && c.get(&spec(2)).is_some());
        assert_eq!(c.len(), 2);
        let mut other = spec(0);
        other.knobs.alpha = 30;
        assert!(c.get(&other).is_none(), "any knob is part of the key");
    }
}
