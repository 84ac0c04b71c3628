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
            let mut text = String::new();
            match std::io::stdin().read_to_string(&mut text) {
                Ok(_) => self.source("<stdin>", &text),
                Err(e) => self.fail(Outcome::Unreadable, &format!("<stdin>: {e}")),
            }
            return;
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
        match std::fs::read(path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => self.source(&path.display().to_string(), &text),
                Err(_) => self.fail(
                    Outcome::Unreadable,
                    &format!("{}: not UTF-8 text", path.display()),
                ),
            },
            Err(e) => self.fail(Outcome::Unreadable, &format!("{}: {e}", path.display())),
        }
    }

    fn source(&mut self, name: &str, text: &str) {
        let docs = match decode::parse_documents(text) {
            Ok(docs) => docs,
            Err(e) => {
                let at = match (e.line, e.column) {
                    (Some(l), Some(c)) => format!("line {l}, column {c}: "),
                    (Some(l), None) => format!("line {l}: "),
                    _ => String::new(),
                };
                return self.fail(Outcome::Unreadable, &format!("{name}: {at}{}", e.message));
            }
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
        let label = format!("{where_} ({})", describe(&doc.value));
        let decoded = match decode::decode(&doc) {
            Ok(d) => d,
            Err(e) => {
                return self.fail(
                    Outcome::Invalid,
                    &format!("{label}: {}", decode_message(&e)),
                );
            }
        };
        if !decoded.strict_problems.is_empty() {
            for p in &decoded.strict_problems {
                self.fail(Outcome::Invalid, &format!("{label}: {p}"));
            }
            return;
        }
        let ctx = AdmitContext {
            uid: uuid::Uuid::new_v4().to_string(),
            now: jiff::Timestamp::now(),
            namespace: self.args.namespace.clone(),
        };
        match admission::admit_create(decoded.object, &ctx) {
            Ok(admitted) => {
                for w in &admitted.warnings {
                    let _ = writeln!(self.err, "{label}: warning: {w}");
                }
                if self.args.output.is_none() {
                    println!("{label}: valid");
                }
                self.admitted.push(admitted.object);
            }
            Err(rejected) => {
                for e in &rejected.errors {
                    let mut line = format!("{label}: {e}");
                    if let Some(hint) = &e.hint {
                        line.push_str(&format!("\n    hint: {hint}"));
                    }
                    self.fail(Outcome::Invalid, &line);
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
