//! Completion indexes of Indexed Jobs (J-80..J-83), as `indexed_job_utils.go` keeps them:
//! ordered intervals, the compressed text of `status.completedIndexes` and
//! `status.failedIndexes`, the pending-index choice and the per-index annotations.

use std::fmt;

use k8s_openapi::api::core::v1::Pod;

/// `batch.kubernetes.io/job-completion-index`: annotation and label of an Indexed Job's pod.
pub const COMPLETION_INDEX_ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";
/// `batch.kubernetes.io/job-index-failure-count` (J-54).
pub const INDEX_FAILURE_COUNT_ANNOTATION: &str = "batch.kubernetes.io/job-index-failure-count";
/// `batch.kubernetes.io/job-index-ignored-failure-count` (J-54).
pub const INDEX_IGNORED_FAILURE_COUNT_ANNOTATION: &str =
    "batch.kubernetes.io/job-index-ignored-failure-count";
/// The environment variable every container of an Indexed Job's pod gets (J-12).
pub const COMPLETION_INDEX_ENV: &str = "JOB_COMPLETION_INDEX";

/// `names.MaxGeneratedNameLength`: 63 minus the five random characters the apiserver appends.
const MAX_GENERATED_NAME_LENGTH: usize = 58;

/// A run of consecutive indexes, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interval {
    pub first: i64,
    pub last: i64,
}

/// Disjoint, non-adjacent intervals in ascending order (`orderedIntervals`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Intervals(Vec<Interval>);

impl Intervals {
    /// `parseIndexesFromString` (J-82): fragments that do not parse are skipped, a fragment
    /// starting at or beyond `completions` ends the parse, ends beyond it are clipped, and
    /// adjacent intervals merge.
    pub fn parse(text: &str, completions: i64) -> Intervals {
        let mut out: Vec<Interval> = Vec::new();
        if text.is_empty() {
            return Intervals(out);
        }
        for fragment in text.split(',') {
            let mut limits = fragment.split('-');
            let Some(first) = limits.next().and_then(go_atoi) else {
                continue;
            };
            if first >= completions {
                break;
            }
            let last = match limits.next() {
                Some(l) => match go_atoi(l) {
                    Some(l) => l.min(completions - 1),
                    None => continue,
                },
                None => first,
            };
            match out.last_mut() {
                Some(prev) if prev.last == first - 1 => prev.last = last,
                _ => out.push(Interval { first, last }),
            }
        }
        Intervals(out)
    }

    /// `withOrderedIndexes`: these intervals plus `indexes` (ascending).
    pub fn with_indexes(&self, indexes: &[i64]) -> Intervals {
        let single = Intervals(
            indexes
                .iter()
                .map(|&i| Interval { first: i, last: i })
                .collect(),
        );
        self.merge(&single)
    }

    /// `orderedIntervals.merge`: the union of two ordered interval lists.
    pub fn merge(&self, other: &Intervals) -> Intervals {
        let mut out: Vec<Interval> = Vec::new();
        let mut push = |next: Interval| match out.last_mut() {
            Some(last) if next.first <= last.last + 1 => last.last = last.last.max(next.last),
            _ => out.push(next),
        };
        let (mut i, mut j) = (0, 0);
        while i < self.0.len() && j < other.0.len() {
            if self.0[i].first < other.0[j].first {
                push(self.0[i]);
                i += 1;
            } else {
                push(other.0[j]);
                j += 1;
            }
        }
        self.0[i..].iter().for_each(|&v| push(v));
        other.0[j..].iter().for_each(|&v| push(v));
        Intervals(out)
    }

    /// How many indexes the intervals hold.
    pub fn total(&self) -> i64 {
        self.0.iter().map(|v| v.last - v.first + 1).sum()
    }

    pub fn contains(&self, index: i64) -> bool {
        let at = self.0.partition_point(|v| v.last < index);
        self.0.get(at).is_some_and(|v| v.first <= index)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn intervals(&self) -> &[Interval] {
        &self.0
    }
}

/// J-81: ascending, comma separated; three or more consecutive indexes as `first-last`, two
/// as `a,b`.
impl fmt::Display for Intervals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, v) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}", v.first)?;
            if v.last == v.first + 1 {
                write!(f, ",{}", v.last)?;
            } else if v.last > v.first {
                write!(f, "-{}", v.last)?;
            }
        }
        Ok(())
    }
}

/// `firstPendingIndexes` (J-80): up to `count` indexes below `completions`, ascending,
/// that `taken` does not hold.
pub fn first_pending(taken: &Intervals, count: usize, completions: i64) -> Vec<i64> {
    let mut out = Vec::with_capacity(count);
    let mut candidate = 0;
    for v in taken.intervals() {
        while candidate < completions && out.len() < count && candidate < v.first {
            out.push(candidate);
            candidate += 1;
        }
        candidate = candidate.max(v.last + 1);
    }
    while candidate < completions && out.len() < count {
        out.push(candidate);
        candidate += 1;
    }
    out
}

/// `getCompletionIndex` (J-16): the pod's index annotation, or None when it is missing, does
/// not parse or is negative.
pub fn completion_index(pod: &Pod) -> Option<i64> {
    pod.metadata
        .annotations
        .as_ref()?
        .get(COMPLETION_INDEX_ANNOTATION)
        .and_then(|v| go_atoi(v))
        .filter(|i| *i >= 0)
}

/// `parseInt32` of the per-index failure annotations (J-54): a value that does not parse, is
/// negative or exceeds 2^31−1 reads as 0.
pub fn parse_count(value: &str) -> i32 {
    go_atoi(value)
        .and_then(|v| i32::try_from(v).ok())
        .filter(|v| *v >= 0)
        .unwrap_or(0)
}

fn annotation_count(pod: &Pod, key: &str) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map_or(0, |v| parse_count(v))
}

/// `getIndexFailureCount`: the pod's failure-count annotation.
pub fn index_failure_count(pod: &Pod) -> i32 {
    annotation_count(pod, INDEX_FAILURE_COUNT_ANNOTATION)
}

/// `parseIndexFailureIgnoreCountAnnotation`: the pod's ignored-failure-count annotation.
pub fn index_ignored_failure_count(pod: &Pod) -> i32 {
    annotation_count(pod, INDEX_IGNORED_FAILURE_COUNT_ANNOTATION)
}

/// `getIndexAbsoluteFailureCount`: failures counted and ignored, together.
pub fn index_absolute_failure_count(pod: &Pod) -> i32 {
    index_failure_count(pod).saturating_add(index_ignored_failure_count(pod))
}

/// `podGenerateNameWithIndex` (J-12): `<job>-<i>-`, the job name cut so that the prefix fits
/// the 58 characters a generated name may have before its random suffix.
pub fn generate_name(job_name: &str, index: i64) -> String {
    let suffix = format!("-{index}-");
    let prefix = format!("{job_name}{suffix}");
    if prefix.len() <= MAX_GENERATED_NAME_LENGTH {
        return prefix;
    }
    let keep = MAX_GENERATED_NAME_LENGTH.saturating_sub(suffix.len());
    let mut cut = keep.min(job_name.len());
    while !job_name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{suffix}", &job_name[..cut])
}

/// Go's `strconv.Atoi`: an optional sign and decimal digits, within 64 bits.
fn go_atoi(s: &str) -> Option<i64> {
    s.parse::<i64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_atoi_accepts_what_strconv_does() {
        assert_eq!(go_atoi("+3"), Some(3));
        assert_eq!(go_atoi("-3"), Some(-3));
        assert_eq!(go_atoi(" 3"), None);
        assert_eq!(go_atoi(""), None);
        assert_eq!(go_atoi("9223372036854775808"), None);
    }
}
