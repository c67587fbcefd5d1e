//! The documentation cannot rot silently: every relative link in README.md and docs/*.md
//! resolves (files and `#anchors`), every `xkit-dash <command>` shown in code is a real command
//! of the real binary, the key table of docs/dashboard.md is the default keymap, and the
//! screenshot's SVG renderer still works.

#[path = "../../examples/screenshot/svg.rs"]
mod svg;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use xkit_dash::tui::keymap::Keymap;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every page of docs/, as (path, text).
fn documents() -> Vec<(PathBuf, String)> {
    let mut paths = vec![repo().join("README.md")];
    let mut pages: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .expect("a docs/ directory")
        .map(|entry| entry.expect("a docs/ entry").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "md"))
        .collect();
    pages.sort();
    paths.extend(pages);
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            (path, text)
        })
        .collect()
}

/// One line of a Markdown file, with whether it sits in a fenced code block and that block's
/// info string (`sh`, `toml`...).
struct Line<'a> {
    number: usize,
    text: &'a str,
    fence: Option<&'a str>,
}

fn lines(text: &str) -> Vec<Line<'_>> {
    let mut fence: Option<&str> = None;
    let mut lines = Vec::new();
    for (index, text) in text.lines().enumerate() {
        let trimmed = text.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fence = match fence {
                Some(_) => None,
                None => Some(trimmed[3..].trim()),
            };
            continue;
        }
        lines.push(Line { number: index + 1, text, fence });
    }
    lines
}

/// The inline code spans of a prose line, and the line with them blanked out.
fn code_spans(text: &str) -> (Vec<&str>, String) {
    let mut spans = Vec::new();
    let mut prose = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('`') {
        let ticks = rest[start..].chars().take_while(|&character| character == '`').count();
        let delimiter = &rest[start..start + ticks];
        let Some(length) = rest[start + ticks..].find(delimiter) else { break };
        prose.push_str(&rest[..start]);
        spans.push(rest[start + ticks..start + ticks + length].trim());
        rest = &rest[start + ticks + length + ticks..];
    }
    prose.push_str(rest);
    (spans, prose)
}

/// GitHub's anchor for a heading: lower case, spaces to `-`, punctuation other than `-` and
/// `_` dropped; a repeated heading gets `-1`, `-2`...
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut anchors = BTreeSet::new();
    for line in lines(text).iter().filter(|line| line.fence.is_none()) {
        let hashes = line.text.chars().take_while(|&character| character == '#').count();
        if !(1..=6).contains(&hashes) || !line.text[hashes..].starts_with(' ') {
            continue;
        }
        let mut slug = String::new();
        for character in line.text[hashes..].trim().chars() {
            if character == ' ' {
                slug.push('-');
            } else if character.is_alphanumeric() || character == '-' || character == '_' {
                slug.extend(character.to_lowercase());
            }
        }
        let count = seen.entry(slug.clone()).or_insert(0);
        anchors.insert(if *count == 0 { slug.clone() } else { format!("{slug}-{count}") });
        *count += 1;
    }
    anchors
}

/// The targets of the Markdown links and images of a document, with their line numbers.
fn link_targets(text: &str) -> Vec<(usize, String)> {
    let mut targets = Vec::new();
    for line in lines(text).iter().filter(|line| line.fence.is_none()) {
        let (_, prose) = code_spans(line.text);
        let mut rest = prose.as_str();
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let end = after.find(')').unwrap_or(after.len());
            let target = after[..end].split_whitespace().next().unwrap_or_default();
            targets.push((line.number, target.to_owned()));
            rest = &after[end..];
        }
    }
    targets
}

fn is_external(target: &str) -> bool {
    ["http://", "https://", "mailto:"].iter().any(|scheme| target.starts_with(scheme))
}

/// Every broken relative link of `documents`, as `file:line: target: why`.
fn broken_links(documents: &[(PathBuf, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (path, text) in documents {
        let name = path.strip_prefix(repo()).unwrap_or(path).display();
        for (line, target) in link_targets(text) {
            if is_external(&target) {
                continue;
            }
            let (file, anchor) = match target.split_once('#') {
                Some((file, anchor)) => (file, Some(anchor)),
                None => (target.as_str(), None),
            };
            let target_text = if file.is_empty() {
                text.clone()
            } else {
                let resolved = path.parent().unwrap().join(file);
                if !resolved.exists() {
                    problems.push(format!("{name}:{line}: {target}: no such file"));
                    continue;
                }
                if anchor.is_none() {
                    continue;
                }
                if resolved.extension().is_none_or(|extension| extension != "md") {
                    problems.push(format!("{name}:{line}: {target}: anchors only into Markdown files"));
                    continue;
                }
                std::fs::read_to_string(&resolved).unwrap()
            };
            let Some(anchor) = anchor else { continue };
            if !anchors(&target_text).contains(anchor) {
                problems.push(format!("{name}:{line}: {target}: no heading with anchor #{anchor}"));
            }
        }
    }
    problems
}

#[test]
fn every_relative_link_resolves_to_a_file_and_heading() {
    let documents = documents();
    let links: usize = documents.iter().map(|(_, text)| link_targets(text).len()).sum();
    assert!(links > 30, "the link scanner found only {links} links");
    let problems = broken_links(&documents);
    assert!(problems.is_empty(), "broken links:\n{}", problems.join("\n"));
}

#[test]
fn the_link_check_catches_a_broken_file_and_a_broken_anchor() {
    let page = repo().join("docs/page.md");
    let documents = vec![(
        page,
        "# Title\n\n## Keys and `code`\n\n[ok](#keys-and-code) [ok](dashboard.md#keys) [ok](../README.md)\n\
         [file](missing.md) [anchor](#nowhere) [other](cli.md#nowhere)\n```sh\n[not a link](in-code.md)\n```\n"
            .to_owned(),
    )];
    let problems = broken_links(&documents);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems[0].contains("missing.md: no such file"), "{problems:#?}");
    assert!(problems[1].contains("#nowhere: no heading"), "{problems:#?}");
    assert!(problems[2].contains("cli.md#nowhere: no heading"), "{problems:#?}");
}

#[test]
fn the_readme_links_every_docs_page() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let linked: BTreeSet<String> =
        link_targets(&readme).into_iter().map(|(_, target)| target.split('#').next().unwrap().to_owned()).collect();
    for (path, _) in documents().iter().skip(1) {
        let relative = path.strip_prefix(repo()).unwrap().display().to_string();
        assert!(linked.contains(&relative), "README.md does not link {relative}");
    }
}

#[test]
fn the_readme_stays_a_short_front_door_with_the_two_quick_start_commands() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let count = readme.lines().count();
    assert!(count < 150, "README.md has {count} lines; move details to docs/");
    // CI (.ci/run) runs the README's test command.
    assert!(readme.contains("cargo run --release   # the dashboard on the embedded demo platform"));
    assert!(readme.contains("cargo test            # the tests"));
    assert!(readme.contains("cargo run --example screenshot"));
}

/// Global options that may come before a command, and whether they take a value.
const GLOBAL_OPTIONS: &[(&str, bool)] = &[
    ("--profile", true),
    ("--api-url", true),
    ("--refresh", true),
    ("--concurrency", true),
    ("--request-timeout", true),
    ("--read-only", false),
];

/// The command path of one `xkit-dash ...` invocation: the words after the program name and
/// its global options, up to the first option, placeholder (`<command>`, `SHELL`), shell
/// operator or comment. `connection org_acme slack` keeps its arguments: clap refuses unexpected ones.
fn command_path(invocation: &str) -> Vec<String> {
    let mut path = Vec::new();
    let mut words = invocation.split_whitespace();
    while let Some(word) = words.next() {
        if word.starts_with('-') {
            match GLOBAL_OPTIONS.iter().find(|(name, _)| *name == word) {
                Some((_, takes_value)) if path.is_empty() => {
                    if *takes_value {
                        words.next();
                    }
                    continue;
                }
                _ => break,
            }
        }
        if word.starts_with('#') {
            break; // a shell comment
        }
        let end = word.find(['|', '>', '<', ';', '&', ')', '"', '\'', '$', '\\', '`']).unwrap_or(word.len());
        let clean = &word[..end];
        let placeholder = clean.chars().all(|character| character.is_ascii_uppercase() || character == '_');
        if clean.is_empty() || placeholder {
            break;
        }
        path.push(clean.to_owned());
        if end < word.len() {
            break;
        }
    }
    path
}

/// Every `xkit-dash ...` in shell code blocks and in inline code, as its command path.
fn documented_commands(documents: &[(PathBuf, String)]) -> BTreeMap<Vec<String>, String> {
    let mut commands = BTreeMap::new();
    for (path, text) in documents {
        let name = path.strip_prefix(repo()).unwrap_or(path).display().to_string();
        for line in lines(text) {
            let code: Vec<&str> = match line.fence {
                Some("sh" | "bash" | "shell" | "console") => vec![line.text],
                Some(_) => vec![],
                None => code_spans(line.text).0,
            };
            for code in code {
                let mut rest = code;
                while let Some(start) = rest.find("xkit-dash ") {
                    let boundary = rest[..start].chars().next_back().is_none_or(|before| " \t(/".contains(before));
                    let after = &rest[start + "xkit-dash ".len()..];
                    if boundary {
                        commands.entry(command_path(after)).or_insert_with(|| format!("{name}:{}", line.number));
                    }
                    rest = after;
                }
            }
        }
    }
    commands
}

/// Runs the real binary with `args`, isolated from the user's configuration.
fn xkit_dash(args: &[&str]) -> std::process::Output {
    let dirs = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_xkit-dash"));
    command.args(args).current_dir(dirs.path());
    for variable in ["XKIT_API_URL", "XKIT_PROFILE", "XKIT_PUBLISHABLE_KEY", "XKIT_SECRET_KEY"] {
        command.env_remove(variable);
    }
    for (variable, dir) in
        [("XKIT_DASH_CONFIG_DIR", "config"), ("XKIT_DASH_DATA_DIR", "data"), ("XKIT_DASH_STATE_DIR", "state")]
    {
        command.env(variable, dirs.path().join(dir));
    }
    command.output().expect("xkit-dash runs")
}

/// The documented command paths that the real binary does not accept with `--help`.
fn unknown_commands(commands: &BTreeMap<Vec<String>, String>) -> Vec<String> {
    let mut problems = Vec::new();
    for (path, place) in commands {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let output = xkit_dash(&args);
        if !output.status.success() {
            problems.push(format!(
                "{place}: xkit-dash {} failed ({}): {}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
    }
    problems
}

#[test]
fn every_documented_command_is_a_real_command() {
    let commands = documented_commands(&documents());
    for expected in [&["check"][..], &["token", "mint"], &["keys", "create"], &["serve"], &["config", "init"]] {
        let expected: Vec<String> = expected.iter().map(|word| word.to_string()).collect();
        assert!(
            commands.contains_key(&expected),
            "the scanner missed `xkit-dash {}`: {commands:#?}",
            expected.join(" ")
        );
    }
    let problems = unknown_commands(&commands);
    assert!(problems.is_empty(), "documented commands the binary refuses:\n{}", problems.join("\n"));
}

#[test]
fn the_command_check_catches_a_command_that_disappeared() {
    let documents = vec![(
        repo().join("docs/page.md"),
        "Run `xkit-dash keys teleport --all` or:\n```sh\nOUT=$(xkit-dash --profile prod chek --json | jq .)\n```\n"
            .to_owned(),
    )];
    let commands = documented_commands(&documents);
    let paths: Vec<&Vec<String>> = commands.keys().collect();
    assert_eq!(paths, [&vec!["chek".to_owned()], &vec!["keys".to_owned(), "teleport".to_owned()]]);
    assert_eq!(unknown_commands(&commands).len(), 2);
}

#[test]
fn every_top_level_command_is_documented() {
    let help = String::from_utf8(xkit_dash(&["--help"]).stdout).unwrap();
    let commands = documented_commands(&documents());
    let documented: BTreeSet<&str> = commands.keys().filter_map(|path| path.first()).map(String::as_str).collect();
    let listed = help.split("Commands:").nth(1).expect("a Commands: section").split("\n\n").next().unwrap();
    for line in listed.lines() {
        let Some(command) = line.strip_prefix("  ").and_then(|rest| rest.split_whitespace().next()) else { continue };
        if command != "help" && !line.starts_with("   ") {
            assert!(documented.contains(command), "`xkit-dash {command}` is not shown in README.md or docs/");
        }
    }
}

/// A row of the key table: its mode, config name, keys and description.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyRow {
    mode: String,
    name: String,
    keys: Vec<String>,
    action: String,
}

/// The rows of the `| Mode | Keys | Action | Config name |` table.
fn key_table(text: &str) -> Vec<KeyRow> {
    let header = "| Mode | Keys | Action | Config name |";
    let start = text.find(header).expect("docs/dashboard.md has the key table");
    text[start..]
        .lines()
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            // `\|` is a pipe inside a cell.
            let line = line.replace("\\|", "\u{0}");
            let cells: Vec<String> = line.split('|').map(|cell| cell.replace('\u{0}', "|").trim().to_owned()).collect();
            assert_eq!(cells.len(), 6, "a key table row has four cells: {line}");
            KeyRow {
                mode: cells[1].clone(),
                keys: code_spans(&cells[2]).0.into_iter().map(str::to_owned).collect(),
                action: cells[3].clone(),
                name: code_spans(&cells[4]).0.concat(),
            }
        })
        .collect()
}

/// Differences between the documented key table and the default keymap, mode by mode.
fn key_table_drift(text: &str) -> Vec<String> {
    let documented = key_table(text);
    let keymap = Keymap::default();
    let actual: Vec<(KeyRow, bool)> = keymap
        .bindings()
        .iter()
        .map(|binding| {
            let row = KeyRow {
                mode: binding.command.mode().name().to_owned(),
                name: binding.command.name().to_owned(),
                keys: binding.keys.iter().map(ToString::to_string).collect(),
                action: String::new(),
            };
            (row, binding.command.is_mutating())
        })
        .collect();
    let mut problems = Vec::new();
    let named = |rows: &mut dyn Iterator<Item = &KeyRow>| -> Vec<String> {
        rows.map(|row| format!("{}.{}", row.mode, row.name)).collect()
    };
    let documented_names = named(&mut documented.iter());
    let actual_names = named(&mut actual.iter().map(|(row, _)| row));
    if documented_names != actual_names {
        problems.push(format!("actions: documented {documented_names:?}, keymap {actual_names:?}"));
    }
    for (row, mutating) in &actual {
        let Some(documented) =
            documented.iter().find(|documented| documented.mode == row.mode && documented.name == row.name)
        else {
            continue;
        };
        let name = format!("{}.{}", row.mode, row.name);
        if documented.keys != row.keys {
            problems.push(format!("{name}: documented keys {:?}, keymap {:?}", documented.keys, row.keys));
        }
        if *mutating != documented.action.contains("absent in read-only mode") {
            problems.push(format!("{name}: say \"absent in read-only mode\" exactly when the action is mutating"));
        }
    }
    problems
}

#[test]
fn the_key_table_matches_the_default_keymap() {
    let text = std::fs::read_to_string(repo().join("docs/dashboard.md")).unwrap();
    let problems = key_table_drift(&text);
    assert!(
        problems.is_empty(),
        "docs/dashboard.md's key table drifted from src/tui/keymap.rs:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_key_table_check_catches_drift() {
    let text = std::fs::read_to_string(repo().join("docs/dashboard.md")).unwrap();
    let rebound = text.replacen("| browse | `t` | triage", "| browse | `T` | triage", 1);
    assert!(key_table_drift(&rebound).iter().any(|problem| problem.starts_with("browse.triage: documented keys")));
    let popup_rebound = text.replacen("| popup | `v` |", "| popup | `r` |", 1);
    assert!(key_table_drift(&popup_rebound).iter().any(|problem| problem.starts_with("popup.reveal: documented keys")));
    let without_help = text.replacen("| browse | `?` | help, generated from the live keymap | `help` |\n", "", 1);
    assert!(key_table_drift(&without_help).iter().any(|problem| problem.starts_with("actions:")));
    let mint_unmarked = text.replacen("mint a context token (absent in read-only mode)", "mint a context token", 1);
    assert!(key_table_drift(&mint_unmarked).iter().any(|problem| problem.starts_with("browse.mint: say")));
}

#[test]
fn the_screenshot_renderer_writes_escaped_coloured_runs() {
    let mut parser = vt100::Parser::new(2, 20, 0);
    parser.process(b"\x1b[1;31m<err> & co\x1b[0m ok\r\n\x1b[7mrev\x1b[0m");
    let mut grid = svg::Grid::from_screen(parser.screen());
    assert_eq!(grid.rows(), 2);
    assert!(grid.row_text(0).starts_with("<err> & co ok"));
    grid.overwrite(0, 11, "OK");
    let picture = grid.to_svg("a <title>");
    assert!(picture.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{picture}");
    assert!(picture.contains(">a &lt;title&gt;</text>"), "{picture}");
    // Bold red, escaped, as one run; the default-coloured rest as another, masked.
    assert!(picture.contains(r##"fill="#f38ba8" font-weight="bold">&lt;err&gt; &amp; co</text>"##), "{picture}");
    assert!(picture.contains(" OK"), "{picture}");
    // Reversed video: the default foreground becomes a background rectangle.
    assert!(picture.contains(r##"height="17.5" fill="#cdd6f4"/>"##), "{picture}");
    assert!(picture.trim_end().ends_with("</svg>"));
}

#[test]
fn the_readme_picture_is_committed() {
    let picture = std::fs::read_to_string(repo().join("assets/dashboard.svg")).expect("assets/dashboard.svg");
    assert!(picture.starts_with("<svg"), "not an SVG");
    for shown in ["TRIAGE: needs attention", "356 connections", "127.0.0.1:41234"] {
        assert!(picture.contains(shown), "assets/dashboard.svg does not show {shown:?}; regenerate it");
    }
}
