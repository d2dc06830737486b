//! The Prometheus text exposition format (version 0.0.4): writing it, and reading it back for
//! tests.

use std::collections::BTreeMap;
use std::fmt::Write;

/// Upper bounds (seconds) of the latency histogram buckets every binary uses. why: from 100 µs
/// (a local Redis round trip) to 2.5 s (past the default backend timeout).
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Metric family type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Buckets, sum and count.
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A metrics page being written.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

fn escape_label(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

impl Exposition {
    /// An empty page.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a family: its `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
    }

    /// One sample line.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                escape_label(v, &mut self.out);
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = if value.is_finite() {
            writeln!(self.out, " {value}")
        } else if value.is_nan() {
            writeln!(self.out, " NaN")
        } else if value > 0.0 {
            writeln!(self.out, " +Inf")
        } else {
            writeln!(self.out, " -Inf")
        };
    }

    /// A family with one unlabelled sample.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// The samples of one histogram series (after [`Exposition::family`]). `counts` has one
    /// entry per bound of `bounds` plus one for `+Inf`, each the count of that bucket alone;
    /// they are written cumulative, as the format wants.
    pub fn histogram(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        bounds: &[f64],
        counts: &[u64],
        sum: f64,
    ) {
        let mut acc = 0u64;
        let bucket = format!("{name}_bucket");
        for (i, c) in counts.iter().enumerate() {
            acc = acc.saturating_add(*c);
            let le = bounds
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
            let mut l: Vec<(&str, &str)> = labels.to_vec();
            l.push(("le", le.as_str()));
            self.sample(&bucket, &l, acc as f64);
        }
        self.sample(&format!("{name}_sum"), labels, sum);
        self.sample(&format!("{name}_count"), labels, acc as f64);
    }

    /// The page.
    pub fn finish(self) -> String {
        self.out
    }
}

/// One sample read back: `name{k="v",...}` and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name.
    pub name: String,
    /// Labels in the order written.
    pub labels: Vec<(String, String)>,
    /// Value.
    pub value: f64,
}

fn parse_labels(s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek() == Some(&',') || chars.peek() == Some(&' ') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(out);
        }
        let mut key = String::new();
        for c in chars.by_ref() {
            if c == '=' {
                break;
            }
            key.push(c);
        }
        if chars.next() != Some('"') {
            return None;
        }
        let mut val = String::new();
        loop {
            match chars.next()? {
                '\\' => match chars.next()? {
                    'n' => val.push('\n'),
                    c => val.push(c),
                },
                '"' => break,
                c => val.push(c),
            }
        }
        out.push((key.trim().to_string(), val));
    }
}

/// Reads a metrics page: every sample, and the `# TYPE` of every family. A malformed line is
/// an error naming it (tests use this to check what a binary serves).
///
/// # Errors
/// The first line that is not a comment, blank, or `name[{labels}] value`.
pub fn parse(text: &str) -> Result<(Vec<Sample>, BTreeMap<String, String>), String> {
    let mut samples = Vec::new();
    let mut types = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split_whitespace();
            if let (Some(n), Some(t)) = (it.next(), it.next()) {
                types.insert(n.to_string(), t.to_string());
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let bad = || format!("malformed metrics line: {line}");
        let (head, value) = line.rsplit_once(' ').ok_or_else(bad)?;
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse::<f64>().map_err(|_| bad())?,
        };
        let (name, labels) = match head.split_once('{') {
            Some((n, l)) => {
                let l = l.strip_suffix('}').ok_or_else(bad)?;
                (n, parse_labels(l).ok_or_else(bad)?)
            }
            None => (head, Vec::new()),
        };
        let name_ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
        if !name_ok {
            return Err(bad());
        }
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    Ok((samples, types))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_back() {
        let mut e = Exposition::new();
        e.single("up_total", Kind::Counter, "Things.\nTwo lines", 3.0);
        e.family("errs", Kind::Counter, "By kind.");
        e.sample("errs", &[("kind", "a\"b\\c\nd"), ("core", "0")], 7.0);
        e.family("lat_seconds", Kind::Histogram, "Latency.");
        e.histogram(
            "lat_seconds",
            &[("core", "1")],
            &[0.1, 1.0],
            &[2, 3, 1],
            1.5,
        );
        let text = e.finish();
        assert!(text.contains("# TYPE lat_seconds histogram\n"), "{text}");
        assert!(
            text.contains("lat_seconds_bucket{core=\"1\",le=\"+Inf\"} 6\n"),
            "{text}"
        );
        let (s, types) = parse(&text).unwrap();
        assert_eq!(types.get("errs").map(String::as_str), Some("counter"));
        assert_eq!(s[0].name, "up_total");
        assert_eq!(s[0].value, 3.0);
        assert_eq!(
            s[1].labels,
            vec![
                ("kind".to_string(), "a\"b\\c\nd".to_string()),
                ("core".to_string(), "0".to_string())
            ]
        );
        let b: Vec<f64> = s
            .iter()
            .filter(|x| x.name == "lat_seconds_bucket")
            .map(|x| x.value)
            .collect();
        assert_eq!(b, vec![2.0, 5.0, 6.0]);
        assert!(s
            .iter()
            .any(|x| x.name == "lat_seconds_count" && x.value == 6.0));
        assert!(s
            .iter()
            .any(|x| x.name == "lat_seconds_sum" && x.value == 1.5));
    }

    #[test]
    fn malformed_lines_are_named() {
        assert!(parse("ok 1\nbad line here x\n")
            .unwrap_err()
            .contains("bad line here x"));
        assert!(parse("a{b=\"c} 1").is_err());
        assert!(parse("x 1\n# comment\n\ny{z=\"w\"} +Inf").is_ok());
    }
}
