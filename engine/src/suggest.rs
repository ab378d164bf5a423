//! "Did you mean …?": the known name nearest to a misspelt one.

/// Edit distance (insertions, deletions, substitutions), by characters.
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidate nearest to `name`, if one is close enough to be a likely typo (at most a
/// third of the name's length, and at least one edit away).
pub fn nearest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (distance(name, c), c))
        .filter(|(d, _)| *d > 0 && *d <= limit)
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_name() {
        assert_eq!(distance("trainng_mode", "training_mode"), 1);
        assert_eq!(
            nearest(
                "trainng_mode",
                ["training_mode", "training_mode_label", "name"]
            ),
            Some("training_mode")
        );
        assert_eq!(nearest("nme", ["name", "major"]), Some("name"));
        assert_eq!(nearest("xyz", ["name", "major"]), None);
        assert_eq!(nearest("name", ["name"]), None);
    }
}
