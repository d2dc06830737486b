//! Key positions per command shape. A command is routed by its keys only, never by whatever
//! happens to be argument 1 (`KEYS *` must not go to the owner of slot(`*`)).

use crate::resp::request::Request;

/// Where a data command's keys are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// Keys at `first, first+step, ...` up to `last` (negative: counted from the end, -1 is the
    /// last argument), like Redis' `COMMAND` key specs.
    Range {
        /// Index of the first key.
        first: u8,
        /// Index of the last key; negative counts from the end.
        last: i8,
        /// Distance between keys.
        step: u8,
    },
    /// `numkeys` at index `at`, keys right after it; `also` is one more key before it (the
    /// destination of ZUNIONSTORE), 0 for none. EVAL, FCALL, ZUNION, LMPOP...
    NumKeys {
        /// Index of the `numkeys` argument.
        at: u8,
        /// Index of an extra key (destination), 0 for none.
        also: u8,
    },
    /// XREAD/XREADGROUP: after `STREAMS`, the first half of the remaining arguments.
    Streams,
}

/// Which argument indices hold keys: `first..=last` by `step`, plus `also`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPlan {
    /// First key index.
    pub first: usize,
    /// Last key index (inclusive).
    pub last: usize,
    /// Step between keys.
    pub step: usize,
    /// One more key index, if any.
    pub also: Option<usize>,
}

/// Why the keys of a request cannot be found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// Too few arguments or a bad `numkeys`: Redis' arity error.
    WrongArity,
    /// `numkeys` is 0: nothing to route by.
    NoKeys,
}

/// True for `XREAD`/`XREADGROUP` with a `BLOCK` option before `STREAMS`: it blocks like BLPOP.
pub fn xread_blocks(req: &Request) -> bool {
    req.args()
        .skip(1)
        .take_while(|a| !a.eq_ignore_ascii_case(b"STREAMS"))
        .any(|a| a.eq_ignore_ascii_case(b"BLOCK"))
}

impl KeyPlan {
    /// Indices of all keys.
    pub fn indices(self) -> impl Iterator<Item = usize> {
        self.also
            .into_iter()
            .chain((self.first..=self.last).step_by(self.step.max(1)))
    }
}

impl Keys {
    /// Finds the key positions of `req`.
    ///
    /// # Errors
    /// [`KeyError`] when the request has no usable key.
    pub fn plan(self, req: &Request) -> Result<KeyPlan, KeyError> {
        let n = req.len();
        match self {
            Keys::Range { first, last, step } => {
                let first = usize::from(first);
                let last = if last < 0 {
                    n.checked_sub(last.unsigned_abs().into())
                        .ok_or(KeyError::WrongArity)?
                } else {
                    last as usize
                };
                if first >= n || last >= n || last < first {
                    return Err(KeyError::WrongArity);
                }
                let step = usize::from(step).max(1);
                // why: key/value pairs to the end (MSET) need whole pairs.
                if step > 1 && !(n - first).is_multiple_of(step) {
                    return Err(KeyError::WrongArity);
                }
                Ok(KeyPlan {
                    first,
                    last,
                    step,
                    also: None,
                })
            }
            Keys::NumKeys { at, also } => {
                let at = usize::from(at);
                let nk: usize = req
                    .arg(at)
                    .and_then(|a| std::str::from_utf8(a).ok())
                    .and_then(|a| a.parse().ok())
                    .ok_or(KeyError::WrongArity)?;
                if nk == 0 {
                    return Err(KeyError::NoKeys);
                }
                let last = at.checked_add(nk).ok_or(KeyError::WrongArity)?;
                if last >= n || (also != 0 && usize::from(also) >= n) {
                    return Err(KeyError::WrongArity);
                }
                Ok(KeyPlan {
                    first: at + 1,
                    last,
                    step: 1,
                    also: (also != 0).then_some(usize::from(also)),
                })
            }
            Keys::Streams => {
                let mut streams = None;
                for (i, a) in req.args().enumerate().skip(1) {
                    if a.eq_ignore_ascii_case(b"STREAMS") {
                        streams = Some(i);
                        break;
                    }
                }
                let s = streams.ok_or(KeyError::WrongArity)?;
                let rest = n - s - 1;
                if rest == 0 || !rest.is_multiple_of(2) {
                    return Err(KeyError::WrongArity);
                }
                Ok(KeyPlan {
                    first: s + 1,
                    last: s + rest / 2,
                    step: 1,
                    also: None,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{request, Limits};
    use bytes::Bytes;

    fn req(line: &str) -> Request {
        let buf = Bytes::from(format!("{line}\r\n"));
        let p = request::parse(&buf, &Limits::REQUEST).unwrap().unwrap();
        Request::new(buf, p)
    }

    fn keys(k: Keys, line: &str) -> Result<Vec<String>, KeyError> {
        let r = req(line);
        let plan = k.plan(&r)?;
        Ok(plan
            .indices()
            .map(|i| String::from_utf8(r.arg(i).unwrap().to_vec()).unwrap())
            .collect())
    }

    #[test]
    fn shapes() {
        let one = Keys::Range {
            first: 1,
            last: 1,
            step: 1,
        };
        assert_eq!(keys(one, "get a").unwrap(), ["a"]);
        assert_eq!(keys(one, "get"), Err(KeyError::WrongArity));
        let all = Keys::Range {
            first: 1,
            last: -1,
            step: 1,
        };
        assert_eq!(keys(all, "mget a b c").unwrap(), ["a", "b", "c"]);
        let pairs = Keys::Range {
            first: 1,
            last: -1,
            step: 2,
        };
        assert_eq!(keys(pairs, "mset a 1 b 2").unwrap(), ["a", "b"]);
        assert_eq!(keys(pairs, "mset a 1 b"), Err(KeyError::WrongArity));
        let obj = Keys::Range {
            first: 2,
            last: 2,
            step: 1,
        };
        assert_eq!(keys(obj, "object encoding k").unwrap(), ["k"]);
        let eval = Keys::NumKeys { at: 2, also: 0 };
        assert_eq!(keys(eval, "eval s 2 k1 k2 a1").unwrap(), ["k1", "k2"]);
        assert_eq!(keys(eval, "eval s 0"), Err(KeyError::NoKeys));
        assert_eq!(keys(eval, "eval s 3 k1"), Err(KeyError::WrongArity));
        assert_eq!(keys(eval, "eval s x k1"), Err(KeyError::WrongArity));
        let zstore = Keys::NumKeys { at: 2, also: 1 };
        assert_eq!(
            keys(zstore, "zunionstore d 2 a b").unwrap(),
            ["d", "a", "b"]
        );
        assert_eq!(
            keys(Keys::Streams, "xread count 2 streams s1 s2 0 0").unwrap(),
            ["s1", "s2"]
        );
        assert_eq!(
            keys(Keys::Streams, "xread block 0 streams s 0").unwrap(),
            ["s"]
        );
        assert!(xread_blocks(&req("xread block 0 streams s 0")));
        assert!(!xread_blocks(&req("xread count 1 streams block 0")));
        assert_eq!(
            keys(Keys::Streams, "xread streams s"),
            Err(KeyError::WrongArity)
        );
    }
}
