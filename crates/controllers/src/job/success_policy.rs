//! `spec.successPolicy` of Indexed Jobs (J-70..J-72), as `success_policy.go` matches it.

use k8s_openapi::api::batch::v1::SuccessPolicy;

use super::indexes::Intervals;

/// `matchSuccessPolicy` (J-71): the message of the first rule the succeeded indexes meet,
/// "Matched rules at index <i>". Nothing matches while no index has succeeded.
pub fn match_policy(
    policy: Option<&SuccessPolicy>,
    completions: i64,
    succeeded: &Intervals,
) -> Option<String> {
    let policy = policy?;
    if succeeded.is_empty() {
        return None;
    }
    policy.rules.iter().enumerate().find_map(|(index, rule)| {
        let met = match rule.succeeded_indexes.as_deref() {
            Some(text) => {
                let required = Intervals::parse(text, completions);
                // A rule whose indexes do not parse (or lie beyond completions) never matches.
                !required.is_empty() && indexes_rule_met(&required, succeeded, rule.succeeded_count)
            }
            None => rule
                .succeeded_count
                .is_some_and(|count| succeeded.total() >= i64::from(count)),
        };
        met.then(|| format!("Matched rules at index {index}"))
    })
}

/// `matchSucceededIndexesRule`: every required index succeeded, or at least `count` of them.
fn indexes_rule_met(required: &Intervals, succeeded: &Intervals, count: Option<i32>) -> bool {
    let (rule, done) = (required.intervals(), succeeded.intervals());
    let (mut r, mut s, mut contained) = (0, 0, 0);
    while r < rule.len() && s < done.len() {
        let overlap = rule[r].last.min(done[s].last) - rule[r].first.max(done[s].first) + 1;
        if overlap > 0 {
            contained += overlap;
        }
        match done[s].last.cmp(&rule[r].last) {
            std::cmp::Ordering::Less => s += 1,
            std::cmp::Ordering::Greater => r += 1,
            std::cmp::Ordering::Equal => {
                s += 1;
                r += 1;
            }
        }
    }
    contained == required.total() || count.is_some_and(|c| contained >= i64::from(c))
}
