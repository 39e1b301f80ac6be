//! The registry (`shared/src/channels.rs`) is the only list of channels and providers: no code
//! that runs, builds, serves, deploys or drives the gateway spells a channel's or a provider's
//! name anywhere else. Adding a provider is its module, its samples and tests, and one registry
//! line; adding a channel is its providers, its `Channel` variant and one registry entry (then
//! `make generate`).
//!
//! Allowed to name them: the registry and the schema's `Channel` enum; a channel's own room
//! (`shared/src/providers/<channel>/`); generated files (checked fresh by `gateway-local infra
//! --check`); docs and comments; samples and tests (fixtures, test data, `tests/tests`, unit
//! test modules, the SDK cross-check scripts), where a name is an example, not a list.

use gateway_shared::channels::CHANNELS;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// Where a channel's or provider's name may be spelled (see the module's doc).
fn allowed(path: &str) -> bool {
    const GENERATED: &[&str] = &[
        "infra/template.yaml",
        "infra/cdk/lib/channels.ts",
        "schema/message.v1.json",
        "Cargo.lock",
    ];
    const SAMPLES_AND_TESTS: &[&str] = &[
        "events/",
        "tests/data/",
        "tests/tests/",
        "tests/src/fixtures",
        "tests/src/genuine.rs",
        // Stand-ins for providers' APIs: provider-specific by nature.
        "tests/src/standins.rs",
        "shared/tests/",
        "fuzz/corpus/",
        "infra/cdk/test/",
        "scripts/sdk_differential.py",
        "scripts/check_sdk_signatures.py",
    ];
    path == "shared/src/channels.rs"
        || path == "shared/src/schema.rs"
        || CHANNELS
            .iter()
            .any(|c| path.starts_with(&format!("shared/src/providers/{}/", c.name())))
        || GENERATED.contains(&path)
        || path.ends_with(".md")
        || path.starts_with("docs/")
        || path.ends_with("package-lock.json")
        || SAMPLES_AND_TESTS.iter().any(|p| path.starts_with(p))
}

/// The code of a file without its comments (and, in Rust, without its unit test module, which
/// by this project's convention closes the file).
fn code(path: &str, text: &str) -> Vec<(usize, String)> {
    let rust = path.ends_with(".rs");
    let slashes = rust || path.ends_with(".ts") || path.ends_with(".js");
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if rust && line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = strip_comment(line, if slashes { "//" } else { "#" });
        if !code.trim().is_empty() {
            lines.push((i + 1, code));
        }
    }
    lines
}

/// `line` up to a comment marker outside quotes.
fn strip_comment(line: &str, marker: &str) -> String {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None if c == '"' || (c == '\'' && marker == "#") => quote = Some(c),
            // `$#` and `${#x}` in shell are not comments.
            None if line[i..].starts_with(marker)
                && (marker != "#" || i == 0 || line[..i].ends_with(char::is_whitespace)) =>
            {
                return line[..i].to_string();
            }
            None => {}
        }
    }
    line.to_string()
}

/// The words of `text`: runs of letters, digits, `_` and any of `also`.
fn words<'a>(text: &'a str, also: &str) -> Vec<&'a str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || also.contains(c)))
        .filter(|w| !w.is_empty())
        .collect()
}

/// The contents of the string literals on a line of Rust.
fn literals(line: &str) -> Vec<&str> {
    line.split('"').skip(1).step_by(2).collect()
}

/// Every place outside the allowed files that spells a channel or a provider. In Rust: a
/// `Channel::` variant, or a name as a word of a string literal (`"sms"`, `"/sms/twilio"`, but
/// not the schema's field path `"email.html"`). In scripts, templates and TypeScript: a
/// channel's name as a word; a provider's as a whole quoted string.
fn spelled(path: &str, text: &str) -> Vec<String> {
    let rust = path.ends_with(".rs");
    let script = [".sh", ".py", ".ts", ".js"]
        .iter()
        .any(|e| path.ends_with(e));
    let mut found = Vec::new();
    for (n, line) in code(path, text) {
        let tokens: Vec<&str> = if rust {
            literals(&line)
                .into_iter()
                .flat_map(|l| words(l, "."))
                .collect()
        } else {
            words(&line, "")
        };
        for channel in CHANNELS {
            let variant = format!("Channel::{:?}", channel.channel);
            if line.contains(&variant) || tokens.contains(&channel.name()) {
                found.push(format!("{path}:{n}: {} ({})", line.trim(), channel.name()));
            }
        }
        for provider in CHANNELS.iter().flat_map(|c| c.providers) {
            let quoted = |q: char| line.contains(&format!("{q}{}{q}", provider.name));
            if (rust || script) && (quoted('"') || quoted('\'')) {
                found.push(format!("{path}:{n}: {} ({})", line.trim(), provider.name));
            }
        }
    }
    found
}

fn files() -> Vec<String> {
    // Tracked files and new ones not ignored: what the next commit would hold.
    let out = Command::new("git")
        .args(["ls-files", "--cached", "--others", "--exclude-standard"])
        .current_dir(root())
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git ls-files failed");
    String::from_utf8(out.stdout)
        .expect("UTF-8 paths")
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn no_channel_or_provider_is_named_outside_the_registry() {
    let mut checked = 0;
    let mut found = Vec::new();
    for path in files() {
        if allowed(&path) {
            continue;
        }
        // Deleted but not yet committed, or binary: nothing to read.
        let Ok(text) = std::fs::read_to_string(root().join(&path)) else {
            continue;
        };
        checked += 1;
        found.extend(spelled(&path, &text));
    }
    assert!(
        checked > 50,
        "only {checked} files checked: is this a checkout?"
    );
    assert!(
        found.is_empty(),
        "channels or providers named outside the registry ({} places):\n{}",
        found.len(),
        found.join("\n")
    );
}

#[test]
fn the_check_sees_a_list_of_channels_and_a_provider_name() {
    // A list that a new channel would have to join, in three of the project's languages.
    assert_eq!(
        spelled(
            "scripts/x.sh",
            "case \"$c\" in\n  voice) echo a ;; # the sms one\nesac\n"
        )
        .len(),
        1
    );
    assert_eq!(
        spelled(
            "shared/src/x.rs",
            "let c = [Channel::Sms, Channel::Email];\nlet p = \"ses\";\n// \"twilio\"\n"
        )
        .len(),
        3
    );
    assert_eq!(spelled("infra/x.ts", "const q = 'chat.fifo';").len(), 1);
    assert_eq!(spelled("shared/src/x.rs", "url(\"/voice/vapi\")").len(), 1);
    // Not a channel: a room's module path, a schema field, a unit test module, a comment.
    assert!(
        spelled(
            "shared/src/x.rs",
            "use crate::providers::email::ses::CertPolicy; // sms\nlet f = \"email.html\";\n#[cfg(test)]\nmod tests { \"sms\" }\n"
        )
        .is_empty()
    );
    assert!(allowed("shared/src/providers/sms/twilio.rs"));
    assert!(!allowed("shared/src/pipeline.rs"));
}
