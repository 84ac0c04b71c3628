//! Label and field selectors as the apiserver parses and matches them: apimachinery's
//! `pkg/labels` (`Parse`, `NewRequirement`, `Selector.String`), `metav1.LabelSelectorAsSelector`
//! and `pkg/fields` (`ParseSelector`). Error texts are apimachinery's, because the API answers
//! 400 with them and users search for them.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1 as metav1;

use crate::field::{BadValue, FieldError, Path, go_quote};
use crate::validation::names::{is_qualified_name, is_valid_label_value};

/// Why a selector was rejected, worded as apimachinery words it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// A label selector string that does not follow the grammar: `found ',', expected: ...`.
    #[error("{0}")]
    Syntax(String),
    /// A requirement of a label selector string that failed to parse or validate.
    #[error("unable to parse requirement: {0}")]
    Requirement(String),
    /// A requirement that failed `NewRequirement`'s checks (field errors, aggregated as Go does).
    #[error("{0}")]
    Invalid(String),
    /// A `matchExpressions` operator other than In, NotIn, Exists and DoesNotExist.
    #[error("{} is not a valid label selector operator", go_quote(.0))]
    UnknownOperator(String),
    /// A field selector term without `=`, `==` or `!=`.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    FieldTerm { selector: String, term: String },
    /// A backslash in a field selector value not followed by `\`, `,` or `=`.
    #[error("invalid field selector: invalid escape sequence: {0}")]
    InvalidEscape(String),
    /// An unescaped `,` or `=` in a field selector value; Go prints the rune as a number.
    #[error("invalid field selector: unescaped character in value: {}", u32::from(*.0))]
    UnescapedRune(char),
}

/// `selection.Operator` as label selectors use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    In,
    NotIn,
    Equals,
    DoubleEquals,
    NotEquals,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

/// The binary operators in the order apimachinery lists them in "expected" messages.
const BINARY_OPERATORS: &str = "in, notin, =, ==, !=, gt, lt";

/// One requirement of a label selector (`labels.Requirement`): a key, an operator and the values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

impl Requirement {
    /// `labels.NewRequirement` with a nil field path, as `Parse` and `LabelSelectorAsSelector`
    /// call it. `values` is `None` for Go's nil slice, which prints as `null`.
    fn new(
        key: &str,
        operator: Operator,
        values: Option<Vec<String>>,
    ) -> Result<Self, SelectorError> {
        let values_path = Path::new("values");
        let bad_values = || match &values {
            Some(v) => BadValue::Json(serde_json::json!(v)),
            None => BadValue::Null,
        };
        let vals = values.clone().unwrap_or_default();
        let mut errs = Vec::new();
        if let Some(err) = label_key_error(key, &Path::new("key")) {
            errs.push(err.to_string());
        }
        match operator {
            Operator::In | Operator::NotIn if vals.is_empty() => errs.push(
                FieldError::invalid(
                    &values_path,
                    bad_values(),
                    "for 'in', 'notin' operators, values set can't be empty",
                )
                .to_string(),
            ),
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals if vals.len() != 1 => {
                errs.push(
                    FieldError::invalid(
                        &values_path,
                        bad_values(),
                        "exact-match compatibility requires one single value",
                    )
                    .to_string(),
                )
            }
            Operator::Exists | Operator::DoesNotExist if !vals.is_empty() => errs.push(
                FieldError::invalid(
                    &values_path,
                    bad_values(),
                    "values set must be empty for exists and does not exist",
                )
                .to_string(),
            ),
            Operator::GreaterThan | Operator::LessThan => {
                if vals.len() != 1 {
                    errs.push(
                        FieldError::invalid(
                            &values_path,
                            bad_values(),
                            "for 'Gt', 'Lt' operators, exactly one value is required",
                        )
                        .to_string(),
                    );
                }
                for (i, v) in vals.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errs.push(
                            FieldError::invalid(
                                &values_path.index(i),
                                v,
                                "for 'Gt', 'Lt' operators, the value must be an integer",
                            )
                            .to_string(),
                        );
                    }
                }
            }
            _ => {}
        }
        for (i, v) in vals.iter().enumerate() {
            let problems = is_valid_label_value(v);
            if !problems.is_empty() {
                errs.push(
                    FieldError::invalid(&values_path.index(i).key(key), v, problems.join("; "))
                        .to_string(),
                );
            }
        }
        if errs.is_empty() {
            Ok(Requirement {
                key: key.to_owned(),
                operator,
                values: vals,
            })
        } else {
            Err(SelectorError::Invalid(aggregate(errs)))
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values in the order given (sorted and de-duplicated when parsed from a string).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// `Requirement.Matches`: NotIn and `!=` match a missing key; Gt and Lt need both the label
    /// and the requirement value to be integers.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let has = |v: &String| self.values.contains(v);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                labels.get(&self.key).is_some_and(has)
            }
            Operator::NotIn | Operator::NotEquals => !labels.get(&self.key).is_some_and(has),
            Operator::Exists => labels.contains_key(&self.key),
            Operator::DoesNotExist => !labels.contains_key(&self.key),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(actual) = labels.get(&self.key).and_then(|v| v.parse::<i64>().ok()) else {
                    return false;
                };
                let [wanted] = self.values.as_slice() else {
                    return false;
                };
                let Ok(wanted) = wanted.parse::<i64>() else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    actual > wanted
                } else {
                    actual < wanted
                }
            }
        }
    }
}

/// `Requirement.String`: values of set operators are printed sorted.
impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.operator {
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
        };
        f.write_str(op)?;
        let set = matches!(self.operator, Operator::In | Operator::NotIn);
        if set {
            f.write_str("(")?;
        }
        let mut values: Vec<&str> = self.values.iter().map(String::as_str).collect();
        values.sort_unstable();
        f.write_str(&values.join(","))?;
        if set {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// A label selector: the AND of its requirements, kept sorted by key as `labels.Parse` and
/// `Selector.Add` keep them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    /// `labels.Nothing()`: what a nil `*metav1.LabelSelector` converts to.
    nothing: bool,
}

impl LabelSelector {
    /// `labels.Everything()`: matches every object, including those without labels.
    pub fn everything() -> Self {
        LabelSelector {
            requirements: Vec::new(),
            nothing: false,
        }
    }

    /// `labels.Nothing()`: matches no object. `LabelSelectorAsSelector(nil)` gives this; callers
    /// holding an absent `metav1.LabelSelector` that must select nothing use it.
    pub fn nothing() -> Self {
        LabelSelector {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// `labels.Parse`: the `labelSelector` query parameter. The empty string selects everything.
    pub fn parse(selector: &str) -> Result<Self, SelectorError> {
        let mut parser = Parser::new(selector);
        let mut requirements = parser.parse()?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector {
            requirements,
            nothing: false,
        })
    }

    /// `metav1.LabelSelectorAsSelector` of a present selector: `matchLabels` become `=`
    /// requirements, `matchExpressions` In/NotIn/Exists/DoesNotExist. A selector with neither
    /// selects everything; an absent one (Go's nil) selects nothing, see [`LabelSelector::nothing`].
    pub fn from_meta(selector: &metav1::LabelSelector) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for (key, value) in selector.match_labels.iter().flatten() {
            requirements.push(Requirement::new(
                key,
                Operator::Equals,
                Some(vec![value.clone()]),
            )?);
        }
        for expr in selector.match_expressions.iter().flatten() {
            let operator = match expr.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => return Err(SelectorError::UnknownOperator(other.to_owned())),
            };
            let values = expr.values.clone().filter(|v| !v.is_empty());
            requirements.push(Requirement::new(&expr.key, operator, values)?);
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector {
            requirements,
            nothing: false,
        })
    }

    /// Whether every requirement matches `labels`; absent labels are an empty set.
    pub fn matches<'a>(&self, labels: impl Into<Option<&'a BTreeMap<String, String>>>) -> bool {
        if self.nothing {
            return false;
        }
        let empty = BTreeMap::new();
        let labels = labels.into().unwrap_or(&empty);
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// `Selector.Empty`: true when the selector does not restrict anything (not for nothing).
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }
}

/// `Selector.String`: the requirements sorted by key, joined by commas; `""` for nothing.
impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// `validateLabelKey`: one field error joining the problems with "; ".
fn label_key_error(key: &str, path: &Path) -> Option<FieldError> {
    let problems = is_qualified_name(key);
    (!problems.is_empty()).then(|| FieldError::invalid(path, key, problems.join("; ")))
}

/// `utilerrors.Aggregate.Error`: one message as is, several de-duplicated inside brackets.
fn aggregate(errs: Vec<String>) -> String {
    let mut unique: Vec<String> = Vec::new();
    for e in errs {
        if !unique.contains(&e) {
            unique.push(e);
        }
    }
    if unique.len() == 1 {
        unique.remove(0)
    } else {
        format!("[{}]", unique.join(", "))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn keyword(s: &[u8]) -> Option<Token> {
    Some(match s {
        b")" => Token::ClosedPar,
        b"," => Token::Comma,
        b"!" => Token::DoesNotExist,
        b"==" => Token::DoubleEquals,
        b"=" => Token::Equals,
        b">" => Token::GreaterThan,
        b"in" => Token::In,
        b"<" => Token::LessThan,
        b"!=" => Token::NotEquals,
        b"notin" => Token::NotIn,
        b"(" => Token::OpenPar,
        _ => return None,
    })
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// The operator a special character starts, if it is one.
fn special(b: u8) -> Option<Token> {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
        .then(|| keyword(&[b]))
        .flatten()
}

/// `labels.Lexer`, byte by byte. A NUL byte reads like the end of the input, as in Go.
struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Lexer<'_> {
    fn read(&mut self) -> u8 {
        match self.s.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                b
            }
            None => 0,
        }
    }

    fn unread(&mut self) {
        self.pos -= 1;
    }

    fn lex(&mut self) -> (Token, String) {
        let mut ch = self.read();
        while is_whitespace(ch) {
            ch = self.read();
        }
        if ch == 0 {
            return (Token::EndOfString, String::new());
        }
        match special(ch) {
            Some(token) => self.scan_special(token, ch),
            None => {
                self.unread();
                self.scan_identifier()
            }
        }
    }

    fn scan_identifier(&mut self) -> (Token, String) {
        let mut buf = Vec::new();
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if special(ch).is_some() || is_whitespace(ch) {
                self.unread();
                break;
            }
            buf.push(ch);
        }
        let token = keyword(&buf).unwrap_or(Token::Identifier);
        (token, String::from_utf8_lossy(&buf).into_owned())
    }

    /// The longest run of special characters that is still an operator (`!=` over `!`).
    fn scan_special(&mut self, first: Token, first_byte: u8) -> (Token, String) {
        let mut buf = vec![first_byte];
        let mut last = (first, 1);
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if special(ch).is_none() {
                self.unread();
                break;
            }
            buf.push(ch);
            match keyword(&buf) {
                Some(token) => last = (token, buf.len()),
                None => {
                    self.unread();
                    break;
                }
            }
        }
        let (token, len) = last;
        (token, String::from_utf8_lossy(&buf[..len]).into_owned())
    }
}

/// Whether `in`/`notin` are operators (after a key) or plain values.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

/// `labels.Parser`: recursive descent over the scanned tokens.
struct Parser {
    items: Vec<(Token, String)>,
    position: usize,
}

impl Parser {
    fn new(selector: &str) -> Self {
        let mut lexer = Lexer {
            s: selector.as_bytes(),
            pos: 0,
        };
        let mut items = Vec::new();
        loop {
            let item = lexer.lex();
            let end = item.0 == Token::EndOfString;
            items.push(item);
            if end {
                break;
            }
        }
        Parser { items, position: 0 }
    }

    fn in_context(token: Token, context: Context) -> Token {
        match token {
            Token::In | Token::NotIn if context == Context::Values => Token::Identifier,
            t => t,
        }
    }

    fn lookahead(&self, context: Context) -> (Token, String) {
        let (t, lit) = &self.items[self.position.min(self.items.len() - 1)];
        (Self::in_context(*t, context), lit.clone())
    }

    fn consume(&mut self, context: Context) -> (Token, String) {
        let item = self.lookahead(context);
        self.position += 1;
        item
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut requirements = Vec::new();
        loop {
            let (t, lit) = self.lookahead(Context::Values);
            match t {
                Token::Identifier | Token::DoesNotExist => {
                    let r = self.parse_requirement().map_err(|e| match e {
                        SelectorError::Syntax(m) | SelectorError::Invalid(m) => {
                            SelectorError::Requirement(m)
                        }
                        other => other,
                    })?;
                    requirements.push(r);
                    let (t, lit) = self.consume(Context::Values);
                    match t {
                        Token::EndOfString => return Ok(requirements),
                        Token::Comma => {
                            let (t2, lit2) = self.lookahead(Context::Values);
                            if t2 != Token::Identifier && t2 != Token::DoesNotExist {
                                return Err(SelectorError::Syntax(format!(
                                    "found '{lit2}', expected: identifier after ','"
                                )));
                            }
                        }
                        _ => {
                            return Err(SelectorError::Syntax(format!(
                                "found '{lit}', expected: ',' or 'end of string'"
                            )));
                        }
                    }
                }
                Token::EndOfString => return Ok(requirements),
                _ => {
                    return Err(SelectorError::Syntax(format!(
                        "found '{lit}', expected: !, identifier, or 'end of string'"
                    )));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, SelectorError> {
        let (key, inferred) = self.parse_key_and_infer_operator()?;
        if let Some(op) = inferred {
            return Requirement::new(&key, op, Some(Vec::new()));
        }
        let operator = self.parse_operator()?;
        let values = match operator {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        Requirement::new(&key, operator, Some(values))
    }

    /// The key, and Exists or DoesNotExist when no binary operator can follow.
    fn parse_key_and_infer_operator(
        &mut self,
    ) -> Result<(String, Option<Operator>), SelectorError> {
        let mut operator = None;
        let (mut t, mut lit) = self.consume(Context::Values);
        if t == Token::DoesNotExist {
            operator = Some(Operator::DoesNotExist);
            (t, lit) = self.consume(Context::Values);
        }
        if t != Token::Identifier {
            return Err(SelectorError::Syntax(format!(
                "found '{lit}', expected: identifier"
            )));
        }
        if let Some(err) = label_key_error(&lit, &Path::root()) {
            // Parse validates the key with a nil path, which Go prints as "<nil>".
            return Err(SelectorError::Syntax(format!("<nil>: {}", err.body())));
        }
        let (next, _) = self.lookahead(Context::Values);
        if (next == Token::EndOfString || next == Token::Comma) && operator.is_none() {
            operator = Some(Operator::Exists);
        }
        Ok((lit, operator))
    }

    fn parse_operator(&mut self) -> Result<Operator, SelectorError> {
        let (t, lit) = self.consume(Context::KeyAndOperator);
        Ok(match t {
            Token::In => Operator::In,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::NotIn => Operator::NotIn,
            Token::NotEquals => Operator::NotEquals,
            _ => {
                return Err(SelectorError::Syntax(format!(
                    "found '{lit}', expected: {BINARY_OPERATORS}"
                )));
            }
        })
    }

    /// `(a,b,c)`: a set, so sorted and de-duplicated; `()` is the set holding "".
    fn parse_values(&mut self) -> Result<Vec<String>, SelectorError> {
        let (t, lit) = self.consume(Context::Values);
        if t != Token::OpenPar {
            return Err(SelectorError::Syntax(format!(
                "found '{lit}' expected: '('"
            )));
        }
        let (t, lit) = self.lookahead(Context::Values);
        match t {
            Token::Identifier | Token::Comma => {
                let values = self.parse_identifiers_list()?;
                // parse_identifiers_list only succeeds in front of ')'.
                self.consume(Context::Values);
                Ok(values)
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                Ok(vec![String::new()])
            }
            _ => Err(SelectorError::Syntax(format!(
                "found '{lit}', expected: ',', ')' or identifier"
            ))),
        }
    }

    fn parse_identifiers_list(&mut self) -> Result<Vec<String>, SelectorError> {
        let mut set = std::collections::BTreeSet::new();
        loop {
            let (t, lit) = self.consume(Context::Values);
            match t {
                Token::Identifier => {
                    set.insert(lit);
                    let (t2, lit2) = self.lookahead(Context::Values);
                    match t2 {
                        Token::Comma => {}
                        Token::ClosedPar => return Ok(set.into_iter().collect()),
                        _ => {
                            return Err(SelectorError::Syntax(format!(
                                "found '{lit2}', expected: ',' or ')'"
                            )));
                        }
                    }
                }
                // Empty values: "(,a)", "(a,)" and "(a,,b)" all hold "".
                Token::Comma => {
                    if set.is_empty() {
                        set.insert(String::new());
                    }
                    let (t2, _) = self.lookahead(Context::Values);
                    if t2 == Token::ClosedPar {
                        set.insert(String::new());
                        return Ok(set.into_iter().collect());
                    }
                    if t2 == Token::Comma {
                        set.insert(String::new());
                    }
                }
                _ => {
                    return Err(SelectorError::Syntax(format!(
                        "found '{lit}', expected: ',', or identifier"
                    )));
                }
            }
        }
    }

    /// The value after `=`, `==`, `!=`, `>` or `<`; missing means "".
    fn parse_exact_value(&mut self) -> Result<Vec<String>, SelectorError> {
        let (t, _) = self.lookahead(Context::Values);
        if t == Token::EndOfString || t == Token::Comma {
            return Ok(vec![String::new()]);
        }
        let (t, lit) = self.consume(Context::Values);
        if t == Token::Identifier {
            Ok(vec![lit])
        } else {
            Err(SelectorError::Syntax(format!(
                "found '{lit}', expected: identifier"
            )))
        }
    }
}

/// A field selector operator; `==` parses to `Equals`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldOperator {
    Equals,
    NotEquals,
}

/// One term of a field selector (`fields.Requirement`), with the value unescaped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub op: FieldOperator,
    pub value: String,
}

/// A field selector: the AND of its terms, sorted by their text as `fields.ParseSelector`
/// sorts them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// `fields.OneTermEqualSelector`: `field` equal to `value`.
    pub fn equal(field: &str, value: &str) -> Self {
        FieldSelector {
            requirements: vec![FieldRequirement {
                field: field.to_owned(),
                op: FieldOperator::Equals,
                value: value.to_owned(),
            }],
        }
    }

    /// `fields.ParseSelector`: comma-separated `field=value`, `field==value` or `field!=value`;
    /// `\,`, `\=` and `\\` escape those characters in values. No whitespace is trimmed.
    pub fn parse(selector: &str) -> Result<Self, SelectorError> {
        let mut terms = split_terms(selector);
        terms.sort_unstable();
        let mut requirements = Vec::new();
        for term in terms.into_iter().filter(|t| !t.is_empty()) {
            let Some((field, op, rhs)) = split_term(term) else {
                return Err(SelectorError::FieldTerm {
                    selector: selector.to_owned(),
                    term: term.to_owned(),
                });
            };
            let value = unescape_value(rhs)?;
            // An empty field with an empty value selects everything and is dropped, as the
            // identity TransformFunc of ParseSelector does.
            if field.is_empty() && value.is_empty() {
                continue;
            }
            requirements.push(FieldRequirement {
                field: field.to_owned(),
                op,
                value,
            });
        }
        Ok(FieldSelector { requirements })
    }

    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether every term matches; `get` returns a field's value, and a missing field counts as
    /// "" as in Kubernetes' field sets.
    pub fn matches(&self, get: &dyn Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|r| {
            let actual = get(&r.field).unwrap_or_default();
            match r.op {
                FieldOperator::Equals => actual == r.value,
                FieldOperator::NotEquals => actual != r.value,
            }
        })
    }
}

/// `Selector.String`: `field=value` terms with values escaped again, joined by commas.
impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = match r.op {
                FieldOperator::Equals => "=",
                FieldOperator::NotEquals => "!=",
            };
            write!(f, "{}{}{}", r.field, op, escape_value(&r.value))?;
        }
        Ok(())
    }
}

/// `fields.EscapeValue`.
fn escape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `fields.UnescapeValue`.
fn unescape_value(s: &str) -> Result<String, SelectorError> {
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(SelectorError::InvalidEscape(format!("\\{c}")));
            }
            out.push(c);
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => return Err(SelectorError::UnescapedRune(c)),
            c => out.push(c),
        }
    }
    if in_slash {
        return Err(SelectorError::InvalidEscape("\\".to_owned()));
    }
    Ok(out)
}

/// `fields.splitTerms`: commas split terms unless escaped; escapes stay in the terms.
fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in selector.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&selector[start..i]);
            start = i + 1;
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// `fields.splitTerm`: the first operator in the term splits it; `!=` and `==` are tried before
/// `=` at each position.
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (text, op) in [
            ("!=", FieldOperator::NotEquals),
            ("==", FieldOperator::Equals),
            ("=", FieldOperator::Equals),
        ] {
            if let Some(value) = rest.strip_prefix(text) {
                return Some((&term[..i], op, value));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn parse_err(s: &str) -> String {
        LabelSelector::parse(s).unwrap_err().to_string()
    }

    const KEY_NAME_RULE: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    const VALUE_RULE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

    #[test]
    fn good_label_selectors_print_back_without_spaces() {
        for s in [
            "x=a,y=b,z=c",
            "",
            "x!=a,y=b",
            "x=",
            "x= ",
            "x=,z= ",
            "x= ,z= ",
            "!x",
            "x>1",
            "x>1,z<5",
            "x==a",
        ] {
            let sel = LabelSelector::parse(s).unwrap();
            assert_eq!(sel.to_string(), s.replace(' ', ""), "{s:?}");
        }
    }

    #[test]
    fn label_selectors_print_sorted_by_key_with_sorted_values() {
        let sel = LabelSelector::parse("z,x notin (def,abc, ,def),!w,y in ()").unwrap();
        assert_eq!(sel.to_string(), "!w,x notin (,abc,def),y in (),z");
        assert_eq!(
            LabelSelector::parse("x=a,a=x").unwrap().to_string(),
            LabelSelector::parse("a=x,x=a").unwrap().to_string()
        );
        let sel = LabelSelector::parse("a in (x,y,notin, z,in)").unwrap();
        assert_eq!(
            sel.requirements()[0].values(),
            ["in", "notin", "x", "y", "z"]
        );
        assert_eq!(sel.requirements()[0].operator(), Operator::In);
        let sel = LabelSelector::parse("\rx,this-is-a-dns.domain.com/key-with-dash").unwrap();
        assert_eq!(sel.to_string(), "this-is-a-dns.domain.com/key-with-dash,x");
    }

    #[test]
    fn empty_values_in_sets() {
        for (s, want) in [
            ("x in (abc,)", vec!["", "abc"]),
            ("x in (a,,,)", vec!["", "a"]),
            ("x in (a,,a,,a,,a,,)", vec!["", "a"]),
            ("x notin (, a)", vec!["", "a"]),
            ("x notin ( )", vec![""]),
        ] {
            let sel = LabelSelector::parse(s).unwrap();
            assert_eq!(sel.requirements()[0].values(), want, "{s}");
        }
    }

    #[test]
    fn label_selector_syntax_errors_are_apimachinerys() {
        let cases = [
            ("x=a y=b", "found 'y', expected: ',' or 'end of string'"),
            ("x==a==b", "found '==', expected: ',' or 'end of string'"),
            ("!x=a", "found '=', expected: ',' or 'end of string'"),
            ("x,,y", "found ',', expected: identifier after ','"),
            ("a in (xyz),", "found '', expected: identifier after ','"),
            (
                ",x,y",
                "found ',', expected: !, identifier, or 'end of string'",
            ),
            (
                "(",
                "found '(', expected: !, identifier, or 'end of string'",
            ),
            (
                "a in (xyz)b notin ()",
                "found 'b', expected: ',' or 'end of string'",
            ),
            (
                "x nott in (y)",
                "unable to parse requirement: found 'nott', expected: in, notin, =, ==, !=, gt, lt",
            ),
            (
                "a (",
                "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt",
            ),
            (
                "a in (xyz abc)",
                "unable to parse requirement: found 'abc', expected: ',' or ')'",
            ),
            (
                "a notin(",
                "unable to parse requirement: found '', expected: ',', ')' or identifier",
            ),
            (
                "a in x",
                "unable to parse requirement: found 'x' expected: '('",
            ),
            (
                "a in (x,=)",
                "unable to parse requirement: found '=', expected: ',', or identifier",
            ),
            (
                "a=(",
                "unable to parse requirement: found '(', expected: identifier",
            ),
            (
                "!",
                "unable to parse requirement: found '', expected: identifier",
            ),
            (
                "x<a",
                "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value must be an integer",
            ),
        ];
        let wrong: Vec<_> = cases
            .iter()
            .filter(|(s, want)| parse_err(s) != *want)
            .map(|(s, _)| (s, parse_err(s)))
            .collect();
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn label_selector_keys_and_values_are_validated() {
        assert_eq!(
            parse_err("-a=b"),
            format!("unable to parse requirement: <nil>: Invalid value: \"-a\": {KEY_NAME_RULE}")
        );
        assert_eq!(
            parse_err("x=a||y=b"),
            format!(
                "unable to parse requirement: values[0][x]: Invalid value: \"a||y\": {VALUE_RULE}"
            )
        );
        assert_eq!(
            parse_err("a=-b"),
            format!(
                "unable to parse requirement: values[0][a]: Invalid value: \"-b\": {VALUE_RULE}"
            )
        );
        assert_eq!(
            parse_err("a in (ok,-b)"),
            format!(
                "unable to parse requirement: values[0][a]: Invalid value: \"-b\": {VALUE_RULE}"
            )
        );
    }

    #[test]
    fn label_selector_matching() {
        let yes = [
            ("", labels(&[("x", "y")])),
            ("x=y", labels(&[("x", "y")])),
            ("x=y,z=w", labels(&[("x", "y"), ("z", "w")])),
            ("x!=y,z!=w", labels(&[("x", "z"), ("z", "a")])),
            ("notin=in", labels(&[("notin", "in")])),
            ("x", labels(&[("x", "z")])),
            ("!x", labels(&[("y", "z")])),
            ("x>1", labels(&[("x", "2")])),
            ("x<1", labels(&[("x", "0")])),
            ("x notin (),y", labels(&[("y", "")])),
            ("x notin (a)", labels(&[])),
        ];
        for (s, l) in yes {
            assert!(LabelSelector::parse(s).unwrap().matches(&l), "{s} {l:?}");
        }
        let no = [
            ("x=z", labels(&[])),
            ("x=y", labels(&[("x", "z")])),
            ("x=y,z=w", labels(&[("x", "w"), ("z", "w")])),
            ("x!=y,z!=w", labels(&[("x", "z"), ("z", "w")])),
            ("x", labels(&[("y", "z")])),
            ("!x", labels(&[("x", "z")])),
            ("x>1", labels(&[("x", "0")])),
            ("x<1", labels(&[("x", "2")])),
            ("z>1", labels(&[("z", "v2")])),
            ("x in ()", labels(&[("y", "baz")])),
            ("x notin (),!y", labels(&[("y", "")])),
        ];
        for (s, l) in no {
            assert!(!LabelSelector::parse(s).unwrap().matches(&l), "{s} {l:?}");
        }
        let sel = LabelSelector::parse("!x").unwrap();
        assert!(sel.matches(None));
        assert!(!LabelSelector::parse("x").unwrap().matches(None));
    }

    fn expr(key: &str, op: &str, values: Option<&[&str]>) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.to_owned(),
            operator: op.to_owned(),
            values: values.map(|v| v.iter().map(|s| (*s).to_owned()).collect()),
        }
    }

    #[test]
    fn from_meta_combines_labels_and_expressions() {
        let meta = metav1::LabelSelector {
            match_labels: Some(labels(&[("b", "2"), ("a", "1")])),
            match_expressions: Some(vec![
                expr("c", "In", Some(&["y", "x"])),
                expr("a", "Exists", None),
                expr("d", "DoesNotExist", Some(&[])),
                expr("e", "NotIn", Some(&["z"])),
            ]),
        };
        let sel = LabelSelector::from_meta(&meta).unwrap();
        assert_eq!(sel.to_string(), "a=1,a,b=2,c in (x,y),!d,e notin (z)");
        assert!(sel.matches(&labels(&[("a", "1"), ("b", "2"), ("c", "x")])));
        assert!(!sel.matches(&labels(&[("a", "1"), ("b", "2"), ("c", "x"), ("d", "")])));
        assert!(!sel.matches(&labels(&[("a", "1"), ("b", "2"), ("c", "x"), ("e", "z")])));
    }

    #[test]
    fn empty_meta_selects_everything_and_nothing_selects_nothing() {
        let sel = LabelSelector::from_meta(&metav1::LabelSelector::default()).unwrap();
        assert!(sel.is_empty());
        assert!(sel.matches(None));
        assert_eq!(sel, LabelSelector::everything());
        let nothing = LabelSelector::nothing();
        assert!(!nothing.is_empty());
        assert!(!nothing.matches(&labels(&[])));
        assert_eq!(nothing.to_string(), "");
    }

    #[test]
    fn from_meta_errors_are_new_requirements() {
        let one = |e: LabelSelectorRequirement| {
            LabelSelector::from_meta(&metav1::LabelSelector {
                match_expressions: Some(vec![e]),
                ..Default::default()
            })
            .unwrap_err()
            .to_string()
        };
        assert_eq!(
            one(expr("a", "Gt", Some(&["1"]))),
            r#""Gt" is not a valid label selector operator"#
        );
        assert_eq!(
            one(expr("a", "Exists", Some(&["x"]))),
            r#"values: Invalid value: ["x"]: values set must be empty for exists and does not exist"#
        );
        assert_eq!(
            one(expr("a", "In", None)),
            "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty"
        );
        assert_eq!(
            one(expr("-a", "NotIn", Some(&[]))),
            format!(
                "[key: Invalid value: \"-a\": {KEY_NAME_RULE}, values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty]"
            )
        );
        let bad_label = LabelSelector::from_meta(&metav1::LabelSelector {
            match_labels: Some(labels(&[("a", "-b")])),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(
            bad_label.to_string(),
            format!("values[0][a]: Invalid value: \"-b\": {VALUE_RULE}")
        );
    }

    #[test]
    fn field_selectors_parse_sorted_and_print_escaped() {
        let sel = FieldSelector::parse(
            "involvedObject.uid=u1,involvedObject.name==pi,metadata.name!=x\\,y",
        )
        .unwrap();
        assert_eq!(
            sel.requirements(),
            [
                FieldRequirement {
                    field: "involvedObject.name".to_owned(),
                    op: FieldOperator::Equals,
                    value: "pi".to_owned(),
                },
                FieldRequirement {
                    field: "involvedObject.uid".to_owned(),
                    op: FieldOperator::Equals,
                    value: "u1".to_owned(),
                },
                FieldRequirement {
                    field: "metadata.name".to_owned(),
                    op: FieldOperator::NotEquals,
                    value: "x,y".to_owned(),
                },
            ]
        );
        assert_eq!(
            sel.to_string(),
            "involvedObject.name=pi,involvedObject.uid=u1,metadata.name!=x\\,y"
        );
        for s in ["x=a,y=b,z=c", "", "x!=a,y=b", "x=a||y\\=b", "x=a\\=\\=b"] {
            assert_eq!(FieldSelector::parse(s).unwrap().to_string(), s);
        }
        assert!(FieldSelector::parse("").unwrap().is_empty());
        assert!(FieldSelector::parse(",=,").unwrap().is_empty());
        let multibyte = FieldSelector::parse("함=수,목=록").unwrap();
        assert_eq!(multibyte.to_string(), "목=록,함=수");
    }

    #[test]
    fn field_selector_errors_are_apimachinerys() {
        let cases = [
            ("a", "invalid selector: 'a'; can't understand 'a'"),
            (
                "x=1,metadata.name",
                "invalid selector: 'x=1,metadata.name'; can't understand 'metadata.name'",
            ),
            (
                "a=b=c",
                "invalid field selector: unescaped character in value: 61",
            ),
            (
                "a=\\x",
                "invalid field selector: invalid escape sequence: \\x",
            ),
            (
                "a=b\\",
                "invalid field selector: invalid escape sequence: \\",
            ),
        ];
        for (s, want) in cases {
            assert_eq!(
                FieldSelector::parse(s).unwrap_err().to_string(),
                want,
                "{s:?}"
            );
        }
    }

    #[test]
    fn field_selector_matching_treats_missing_fields_as_empty() {
        let fields = |name: &str| match name {
            "metadata.name" => Some("pi".to_owned()),
            "status.phase" => Some(String::new()),
            _ => None,
        };
        let matches = |s: &str| FieldSelector::parse(s).unwrap().matches(&fields);
        assert!(matches("metadata.name=pi"));
        assert!(matches("metadata.name==pi,spec.nodeName="));
        assert!(matches("metadata.name!=other,status.phase="));
        assert!(!matches("metadata.name=other"));
        assert!(!matches("metadata.name=pi,spec.nodeName!="));
        assert!(matches(""));
    }
}
