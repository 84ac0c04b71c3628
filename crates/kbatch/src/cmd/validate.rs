//! `kbatch validate -f PATH…`: the apiserver's decoding, defaulting and validation, offline.
//! Exit 0 when every document is valid, 1 when any is invalid, 2 when input cannot be read or
//! parsed.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use kbatch_core::admission::{self, AdmitContext};
use kbatch_core::decode::{self, Document};
use kbatch_core::object::Object;
use serde_json::Value;

#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// Manifest files or directories (searched recursively for *.yaml, *.yml, *.json); `-` reads stdin.
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Print the defaulted objects, as the server would store them.
    #[arg(short = 'o', long = "output", value_enum)]
    pub output: Option<Output>,
    /// The namespace of objects that name none.
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    pub namespace: String,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Output {
    Json,
    Yaml,
}

/// What went wrong worst, in exit-code order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Valid = 0,
    Invalid = 1,
    Unreadable = 2,
}

struct Run<'a> {
    args: &'a ValidateArgs,
    outcome: Outcome,
    admitted: Vec<Object>,
    err: std::io::StderrLock<'static>,
}

pub fn run(args: &ValidateArgs) -> ExitCode {
    let mut run = Run {
        args,
        outcome: Outcome::Valid,
        admitted: Vec::new(),
        err: std::io::stderr().lock(),
    };
    for path in &args.files {
        run.path(path);
    }
    if let Some(format) = args.output {
        run.print_objects(format);
    }
    ExitCode::from(run.outcome as u8)
}

impl Run<'_> {
    fn fail(&mut self, outcome: Outcome, line: &str) {
        self.outcome = self.outcome.max(outcome);
        let _ = writeln!(self.err, "{line}");
    }

    fn path(&mut self, path: &Path) {
        if path.as_os_str() == "-" {
            return self.file(path);
        }
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => {
                let mut files = Vec::new();
                if let Err(e) = manifests_in(path, &mut files) {
                    self.fail(Outcome::Unreadable, &format!("{}: {e}", path.display()));
                }
                if files.is_empty() {
                    let msg = format!("{}: no *.yaml, *.yml or *.json files found", path.display());
                    self.fail(Outcome::Unreadable, &msg);
                }
                for file in files {
                    self.file(&file);
                }
            }
            Ok(_) => self.file(path),
            Err(e) => self.fail(Outcome::Unreadable, &format!("{}: {e}", path.display())),
        }
    }

    fn file(&mut self, path: &Path) {
        match read_source(path) {
            Ok((name, text)) => self.source(&name, &text),
            Err(line) => self.fail(Outcome::Unreadable, &line),
        }
    }

    fn source(&mut self, name: &str, text: &str) {
        let docs = match decode::parse_documents(text) {
            Ok(docs) => docs,
            Err(e) => return self.fail(Outcome::Unreadable, &syntax_error(name, &e)),
        };
        if docs.is_empty() {
            let _ = writeln!(self.err, "{name}: no documents");
        }
        for (i, doc) in docs.into_iter().enumerate() {
            let is_list = doc
                .value
                .get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| k.ends_with("List"));
            let where_ = format!("{name}: document {}", i + 1);
            if is_list {
                for (j, item) in decode::flatten_lists(vec![doc]).into_iter().enumerate() {
                    self.document(&format!("{where_} item {}", j + 1), item);
                }
            } else {
                self.document(&where_, doc);
            }
        }
    }

    fn document(&mut self, where_: &str, doc: Document) {
        let checked = check_document(where_, doc, &self.args.namespace);
        match checked.result {
            Ok(ok) => {
                for w in &ok.warnings {
                    let _ = writeln!(self.err, "{}: warning: {w}", checked.label);
                }
                if self.args.output.is_none() {
                    println!("{}: valid", checked.label);
                }
                self.admitted.push(ok.admitted);
            }
            Err(lines) => {
                for line in &lines {
                    self.fail(Outcome::Invalid, line);
                }
            }
        }
    }

    fn print_objects(&mut self, format: Output) {
        let mut items: Vec<Value> = self.admitted.iter().map(Object::to_json).collect();
        let value = if items.len() == 1 {
            items.remove(0)
        } else {
            serde_json::json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": items})
        };
        let text = match format {
            Output::Json => serde_json::to_string_pretty(&value).map_err(|e| e.to_string()),
            Output::Yaml => serde_saphyr::to_string(&value).map_err(|e| e.to_string()),
        };
        match text {
            Ok(t) => println!("{}", t.trim_end()),
            Err(e) => self.fail(Outcome::Unreadable, &format!("cannot print objects: {e}")),
        }
    }
}

/// A manifest's name for messages (`<stdin>` for `-`) and its text, or the line that says
/// why it cannot be read.
pub(crate) fn read_source(path: &Path) -> Result<(String, String), String> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        return match std::io::stdin().read_to_string(&mut text) {
            Ok(_) => Ok(("<stdin>".to_owned(), text)),
            Err(e) => Err(format!("<stdin>: {e}")),
        };
    }
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Ok((path.display().to_string(), text)),
            Err(_) => Err(format!("{}: not UTF-8 text", path.display())),
        },
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// A manifest that is not YAML or JSON: `name: line L, column C: message`.
pub(crate) fn syntax_error(name: &str, e: &decode::SyntaxError) -> String {
    let at = match (e.line, e.column) {
        (Some(l), Some(c)) => format!("line {l}, column {c}: "),
        (Some(l), None) => format!("line {l}: "),
        _ => String::new(),
    };
    format!("{name}: {at}{}", e.message)
}

/// One document checked as the API server admits it on create.
pub(crate) struct Checked {
    /// `<where>: document N (Kind/name)`, the start of every line about it.
    pub label: String,
    /// The document's object, or every error as a line of its own (hints included).
    pub result: Result<Accepted, Vec<String>>,
}

/// A document that passed: the decoded object as a client sends it, the object as the
/// server would store it, and admission's warnings.
pub(crate) struct Accepted {
    pub object: Object,
    pub admitted: Object,
    pub warnings: Vec<String>,
}

/// Decodes a document strictly (unknown and duplicate fields are errors, as kubectl's
/// default `fieldValidation=Strict`) and admits it in `namespace`.
pub(crate) fn check_document(where_: &str, doc: Document, namespace: &str) -> Checked {
    let label = format!("{where_} ({})", describe(&doc.value));
    let decoded = match decode::decode(&doc) {
        Ok(d) => d,
        Err(e) => {
            let line = format!("{label}: {}", decode_message(&e));
            return Checked {
                label,
                result: Err(vec![line]),
            };
        }
    };
    if !decoded.strict_problems.is_empty() {
        let lines = decoded
            .strict_problems
            .iter()
            .map(|p| format!("{label}: {p}"))
            .collect();
        return Checked {
            label,
            result: Err(lines),
        };
    }
    let ctx = AdmitContext {
        uid: uuid::Uuid::new_v4().to_string(),
        now: jiff::Timestamp::now(),
        namespace: namespace.to_owned(),
    };
    let result = match admission::admit_create(decoded.object.clone(), &ctx) {
        Ok(admitted) => Ok(Accepted {
            object: decoded.object,
            admitted: admitted.object,
            warnings: admitted.warnings,
        }),
        Err(rejected) => Err(rejected
            .errors
            .iter()
            .map(|e| {
                let mut line = format!("{label}: {e}");
                if let Some(hint) = &e.hint {
                    line.push_str(&format!("\n    hint: {hint}"));
                }
                line
            })
            .collect()),
    };
    Checked { label, result }
}

/// `Kind/name` of a raw document, for messages; `?` where missing.
fn describe(value: &Value) -> String {
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or("?");
    let name = value
        .get("metadata")
        .and_then(|m| m.get("name").or_else(|| m.get("generateName")))
        .and_then(Value::as_str)
        .unwrap_or("?");
    format!("{kind}/{name}")
}

/// A decode error as `field: message` where it has a field.
fn decode_message(e: &decode::ObjectError) -> String {
    match e {
        decode::ObjectError::Type { path, message, .. } if !path.is_empty() => {
            format!("{path}: {message}")
        }
        decode::ObjectError::Type { message, .. } => message.clone(),
        decode::ObjectError::MissingTypeField(field) => {
            let f = if *field == "Kind" {
                "kind"
            } else {
                "apiVersion"
            };
            format!("{f}: Required value: every manifest names its apiVersion and kind")
        }
        other => other.to_string(),
    }
}

/// Manifest files under a directory, recursively, in name order.
fn manifests_in(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            manifests_in(&path, out)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        {
            out.push(path);
        }
    }
    Ok(())
}
