//! Slot ranges: the normalised range list, its text form (inside UMCTL commands) and its JSON
//! form (broker API), plus the migration tags a range can carry.
//!
//! Text form (spec 1.2): `<count> <start>-<end> [<start>-<end> ...]`, e.g. `2 0-8191 9000-9000`.
//! JSON form (spec 1.3): `[[0, 8191], [9000, 9000]]`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Number of hash slots in a Redis cluster.
pub const SLOT_COUNT: usize = 16384;

/// Why a range list could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeListError {
    /// The leading count is missing or not a number.
    #[error("missing or invalid range count")]
    BadCount,
    /// Fewer ranges followed than the count announced.
    #[error("expected {0} ranges")]
    TooFewRanges(usize),
    /// A range is not `<start>-<end>` with numbers.
    #[error("invalid range `{0}`")]
    BadRange(String),
    /// A slot number is 16384 or more.
    #[error("slot {0} out of range")]
    SlotOutOfRange(u64),
}

/// A set of slots as sorted, disjoint, non-adjacent inclusive ranges.
///
/// Normalised on construction (reversed pairs swapped, sorted, overlapping or adjacent ranges
/// merged) and every slot is below [`SLOT_COUNT`], so code holding one never re-validates it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RangeList(Vec<(u16, u16)>);

impl RangeList {
    /// Builds a normalised list from inclusive `(start, end)` pairs.
    ///
    /// # Errors
    /// [`RangeListError::SlotOutOfRange`] if any slot is `>= 16384`.
    pub fn from_pairs<I: IntoIterator<Item = (u64, u64)>>(
        pairs: I,
    ) -> Result<Self, RangeListError> {
        let mut ranges = Vec::new();
        for (a, b) in pairs {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            let lo16 = to_slot(lo)?;
            let hi16 = to_slot(hi)?;
            ranges.push((lo16, hi16));
        }
        Ok(Self::normalise(ranges))
    }

    /// The empty list.
    pub fn empty() -> Self {
        Self(Vec::new())
    }

    fn normalise(mut ranges: Vec<(u16, u16)>) -> Self {
        ranges.sort_unstable();
        let mut out: Vec<(u16, u16)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match out.last_mut() {
                // `lo <= last_hi + 1` without overflow: adjacent or overlapping ranges merge.
                Some(last) if u32::from(lo) <= u32::from(last.1) + 1 => {
                    last.1 = last.1.max(hi);
                }
                _ => out.push((lo, hi)),
            }
        }
        Self(out)
    }

    /// The inclusive ranges, sorted and disjoint.
    pub fn ranges(&self) -> &[(u16, u16)] {
        &self.0
    }

    /// True when no slot is in the list.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of slots covered.
    pub fn slot_count(&self) -> usize {
        self.0
            .iter()
            .map(|&(lo, hi)| usize::from(hi) - usize::from(lo) + 1)
            .sum()
    }

    /// True when `slot` is covered.
    pub fn contains(&self, slot: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| lo <= slot && slot <= hi)
    }

    /// Reads the text form from a sequence of tokens, consuming exactly the tokens it needs.
    ///
    /// ```text
    /// <count> <start>-<end> [<start>-<end> ...]
    /// ```
    ///
    /// # Errors
    /// When the count is missing or bad, a range is malformed, or fewer ranges follow.
    pub fn parse_tokens<'a, I>(tokens: &mut I) -> Result<Self, RangeListError>
    where
        I: Iterator<Item = &'a str>,
    {
        let count: usize = tokens
            .next()
            .and_then(|t| t.parse().ok())
            .ok_or(RangeListError::BadCount)?;
        // why: `count` comes from the wire; collect only what actually follows, never reserve it.
        let mut pairs = Vec::new();
        for _ in 0..count {
            let token = tokens.next().ok_or(RangeListError::TooFewRanges(count))?;
            pairs.push(parse_range(token)?);
        }
        Self::from_pairs(pairs)
    }

    /// Writes the text form, e.g. `2 0-8191 9000-9000`.
    pub fn to_text(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for RangeList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.len())?;
        for (lo, hi) in &self.0 {
            write!(f, " {lo}-{hi}")?;
        }
        Ok(())
    }
}

fn to_slot(n: u64) -> Result<u16, RangeListError> {
    match u16::try_from(n) {
        Ok(s) if usize::from(s) < SLOT_COUNT => Ok(s),
        _ => Err(RangeListError::SlotOutOfRange(n)),
    }
}

fn parse_range(token: &str) -> Result<(u64, u64), RangeListError> {
    let bad = || RangeListError::BadRange(token.to_string());
    let (a, b) = token.split_once('-').ok_or_else(bad)?;
    let a = a.parse().map_err(|_| bad())?;
    let b = b.parse().map_err(|_| bad())?;
    Ok((a, b))
}

impl Serialize for RangeList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|&(lo, hi)| [lo, hi]))
    }
}

impl<'de> Deserialize<'de> for RangeList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let pairs: Vec<(u64, u64)> = Vec::deserialize(d)?;
        RangeList::from_pairs(pairs).map_err(serde::de::Error::custom)
    }
}

/// Where a migrating range goes: the epoch the migration started at and both ends.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MigrationMeta {
    /// Epoch at which the migration was started.
    pub epoch: u64,
    /// Source proxy `host:port`.
    pub src_proxy_address: String,
    /// Source Redis `host:port`.
    pub src_node_address: String,
    /// Destination proxy `host:port`.
    pub dst_proxy_address: String,
    /// Destination Redis `host:port`.
    pub dst_node_address: String,
}

impl MigrationMeta {
    /// The five fields in their wire order: `<epoch> <src_proxy> <src_node> <dst_proxy> <dst_node>`.
    pub fn to_text(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.epoch,
            self.src_proxy_address,
            self.src_node_address,
            self.dst_proxy_address,
            self.dst_node_address
        )
    }

    /// Reads the five fields in wire order.
    pub fn parse_tokens<'a, I>(tokens: &mut I) -> Option<Self>
    where
        I: Iterator<Item = &'a str>,
    {
        Some(Self {
            epoch: tokens.next()?.parse().ok()?,
            src_proxy_address: tokens.next()?.to_string(),
            src_node_address: tokens.next()?.to_string(),
            dst_proxy_address: tokens.next()?.to_string(),
            dst_node_address: tokens.next()?.to_string(),
        })
    }
}

/// Whether a range is stable or part of a migration, seen from the proxy holding it.
///
/// JSON: `"None"`, `{"Migrating": MigrationMeta}` or `{"Importing": MigrationMeta}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum SlotRangeTag {
    /// Stable: served by its owner.
    #[default]
    None,
    /// Leaving this node.
    Migrating(MigrationMeta),
    /// Arriving at this node.
    Importing(MigrationMeta),
}

impl SlotRangeTag {
    /// The migration this range takes part in, if any.
    pub fn meta(&self) -> Option<&MigrationMeta> {
        match self {
            SlotRangeTag::None => None,
            SlotRangeTag::Migrating(m) | SlotRangeTag::Importing(m) => Some(m),
        }
    }
}

/// A range list with its tag. JSON: `{"range_list": [[0, 8191]], "tag": "None"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SlotRange {
    /// The slots.
    pub range_list: RangeList,
    /// Stable or migrating.
    pub tag: SlotRangeTag,
}

impl SlotRange {
    /// A stable range.
    pub fn stable(range_list: RangeList) -> Self {
        Self {
            range_list,
            tag: SlotRangeTag::None,
        }
    }

    /// Text form used in UMCTL: `<rangelist>`, or
    /// `migrating|importing <rangelist> <epoch> <src_proxy> <src_node> <dst_proxy> <dst_node>`.
    pub fn to_text(&self) -> String {
        match &self.tag {
            SlotRangeTag::None => self.range_list.to_text(),
            SlotRangeTag::Migrating(m) => {
                format!("migrating {} {}", self.range_list, m.to_text())
            }
            SlotRangeTag::Importing(m) => {
                format!("importing {} {}", self.range_list, m.to_text())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(s: &str) -> Result<RangeList, RangeListError> {
        RangeList::parse_tokens(&mut s.split(' '))
    }

    #[test]
    fn text_round_trip_and_normalisation() {
        assert_eq!(
            parse("2 0-997 999-1000").unwrap().to_text(),
            "2 0-997 999-1000"
        );
        assert_eq!(
            parse("3 0-1365 1366-1638 1639-2047").unwrap().to_text(),
            "1 0-2047"
        );
        assert_eq!(parse("1 8191-0").unwrap().to_text(), "1 0-8191");
        assert_eq!(parse("2 5-5 5-5").unwrap().to_text(), "1 5-5");
        assert_eq!(parse("0").unwrap().to_text(), "0");
    }

    #[test]
    fn text_errors() {
        assert_eq!(parse("x"), Err(RangeListError::BadCount));
        assert_eq!(parse("2 0-1"), Err(RangeListError::TooFewRanges(2)));
        assert!(matches!(parse("1 5"), Err(RangeListError::BadRange(_))));
        assert_eq!(
            parse("1 0-16384"),
            Err(RangeListError::SlotOutOfRange(16384))
        );
    }

    #[test]
    fn a_huge_count_is_not_preallocated() {
        assert_eq!(
            parse("18446744073709551615 0-1"),
            Err(RangeListError::TooFewRanges(usize::MAX))
        );
    }

    #[test]
    fn json_shapes() {
        let r = SlotRange::stable(RangeList::from_pairs([(0, 8191)]).unwrap());
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"range_list":[[0,8191]],"tag":"None"}"#
        );
        let m: SlotRange = serde_json::from_str(
            r#"{"range_list":[[1,2]],"tag":{"Migrating":{"epoch":233,"src_proxy_address":"a:1",
            "src_node_address":"b:1","dst_proxy_address":"c:1","dst_node_address":"d:1"}}}"#,
        )
        .unwrap();
        assert_eq!(m.to_text(), "migrating 1 1-2 233 a:1 b:1 c:1 d:1");
        assert!(serde_json::from_str::<RangeList>("[[0,20000]]").is_err());
    }

    proptest! {
        #[test]
        fn normalised_lists_are_sorted_disjoint_and_cover_the_input(
            pairs in proptest::collection::vec((0u64..16384, 0u64..16384), 0..20)
        ) {
            let list = RangeList::from_pairs(pairs.clone()).unwrap();
            for w in list.ranges().windows(2) {
                prop_assert!(u32::from(w[0].1) + 1 < u32::from(w[1].0));
            }
            for (a, b) in pairs {
                let (lo, hi) = (a.min(b) as u16, a.max(b) as u16);
                prop_assert!(list.contains(lo) && list.contains(hi));
            }
            let reparsed = parse(&list.to_text()).unwrap();
            prop_assert_eq!(reparsed, list);
        }
    }
}
