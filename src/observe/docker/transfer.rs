//! How far a pull has got: the engine reports each layer's bytes
//! (`Downloading` with current and total) and its end (`Pull complete`,
//! `Already exists`…); `Layers` sums them for the caller's progress
//! display. (Pushes report no layer ids through bollard: they show a
//! spinner only.) Layers the registry or engine already has
//! never report a size and are not counted.

use std::collections::BTreeMap;

/// Bytes moved and known total, per layer id.
#[derive(Debug, Default)]
pub(super) struct Layers(BTreeMap<String, (u64, u64)>);

impl Layers {
    /// Takes one progress message; true when the sums moved.
    pub(super) fn update(
        &mut self,
        id: Option<&str>,
        status: Option<&str>,
        current: Option<i64>,
        total: Option<i64>,
    ) -> bool {
        let (Some(id), Some(status)) = (id, status) else { return false };
        let before = self.sum();
        if status.starts_with("Downloading") {
            let total = total.and_then(|t| u64::try_from(t).ok()).filter(|t| *t > 0);
            if let Some(total) = total {
                let current = current.and_then(|c| u64::try_from(c).ok()).unwrap_or(0).min(total);
                self.0.insert(id.to_string(), (current, total));
            }
        } else if matches!(status, "Download complete" | "Pull complete") {
            if let Some(layer) = self.0.get_mut(id) {
                layer.0 = layer.1;
            }
        }
        self.sum() != before
    }

    /// (bytes moved, bytes known) over every sized layer.
    pub(super) fn sum(&self) -> (u64, u64) {
        self.0.values().fold((0, 0), |(c, t), (lc, lt)| (c + lc, t + lt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_the_layers_that_move() {
        let mut l = Layers::default();
        assert!(!l.update(Some("a"), Some("Pulling fs layer"), None, None));
        assert!(l.update(Some("a"), Some("Downloading"), Some(100), Some(1000)));
        assert!(l.update(Some("b"), Some("Downloading"), Some(50), Some(500)));
        assert_eq!(l.sum(), (150, 1500));
        assert!(!l.update(Some("c"), Some("Already exists"), None, None));
        assert!(l.update(Some("a"), Some("Download complete"), None, None));
        assert_eq!(l.sum(), (1050, 1500));
        // Extracting reports other bytes: not a transfer.
        assert!(!l.update(Some("a"), Some("Extracting"), Some(10), Some(1000)));
        assert!(l.update(Some("b"), Some("Downloading"), Some(700), Some(500)));
        assert_eq!(l.sum(), (1500, 1500), "current is capped at the layer's total");
        assert!(!l.update(None, Some("Digest: sha256:…"), None, None));
    }
}
