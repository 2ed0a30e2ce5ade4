//! Every table in the README and in `docs/` renders as a table: a header
//! row, then a separator row (`|---|---|`), then rows of as many cells as
//! the header. A table that loses its separator shows as a paragraph of
//! pipes (the README's results matrix once did), and a row with a cell too
//! many or too few is cut or padded without a word: neither is seen until
//! someone reads the rendered page. Here, with results_matrix, because
//! `scripts/run_all.sh` writes the README's matrix.

#![allow(clippy::unwrap_used)] // a test that cannot read the docs should panic

use std::path::{Path, PathBuf};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The README and every markdown file in `docs/`.
fn documents() -> Vec<PathBuf> {
    let root = Path::new(ROOT);
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The cells of a table row: split at each `|` that is not escaped (`\|`;
/// a pipe splits a cell even inside backticks), less the outer pipes.
fn cells(line: &str) -> usize {
    let line = line.trim();
    let mut pipes = 0;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '|' => pipes += 1,
            _ => {}
        }
    }
    // `| a | b |` has 3 pipes and 2 cells; a row without the closing pipe, 2 and 2.
    let closed = line.len() > 1 && line.ends_with('|') && !line.ends_with("\\|");
    if closed { pipes - 1 } else { pipes }
}

/// Whether a line is a separator row: `|---|:---:|` (dashes, optional colons).
fn is_separator(line: &str) -> bool {
    let line = line.trim().trim_start_matches('|').trim_end_matches('|');
    !line.is_empty()
        && line.split('|').all(|cell| {
            let cell = cell.trim().trim_start_matches(':').trim_end_matches(':');
            !cell.is_empty() && cell.chars().all(|c| c == '-')
        })
}

/// Every problem with the tables of `text`, as `line N: what`. A table is
/// a run of lines starting with `|` outside fenced code blocks.
fn table_problems(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut in_code = false;
    let mut table: Vec<(usize, &str)> = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") {
            in_code = !in_code;
        }
        if !in_code && trimmed.starts_with('|') {
            table.push((index + 1, line));
        }
        let table_ends = in_code || !trimmed.starts_with('|') || index + 1 == lines.len();
        if table_ends && !table.is_empty() {
            problems.extend(check_table(&table));
            table.clear();
        }
    }
    problems
}

/// The problems of one table, given its lines and their numbers.
fn check_table(table: &[(usize, &str)]) -> Vec<String> {
    let (header_line, header) = table[0];
    let Some(&(separator_line, separator)) = table.get(1) else {
        return vec![format!("line {header_line}: a table of one row (no separator row under it)")];
    };
    if !is_separator(separator) {
        return vec![format!("line {separator_line}: no separator row (|---|) under the header row above")];
    }
    let columns = cells(header);
    table
        .iter()
        .skip(1)
        .filter(|(_, line)| cells(line) != columns)
        .map(|(number, line)| format!("line {number}: {} cells, the header has {columns}: {line}", cells(line)))
        .collect()
}

/// The README and every document in `docs/`: each table has its separator
/// row and rows as wide as its header.
#[test]
fn every_table_renders() {
    let mut problems = Vec::new();
    for path in documents() {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.strip_prefix(ROOT).unwrap_or(&path).display().to_string();
        problems.extend(table_problems(&text).into_iter().map(|problem| format!("{name} {problem}")));
    }
    assert!(problems.is_empty(), "tables that will not render:\n{}", problems.join("\n"));
}

/// The checker finds a lost separator, a short row and a row too wide,
/// counts escaped pipes as text, and ignores pipes in code blocks.
#[test]
fn the_checker_finds_broken_tables() {
    let good = "| a | b |\n|---|:---:|\n| 1 | `x \\| y` |\n\n```\n| not | a | table\n```\n";
    assert_eq!(table_problems(good), Vec::<String>::new());
    let lost = "Text.\n\n| a | b |\n| 1 | 2 |\n";
    assert_eq!(table_problems(lost), ["line 4: no separator row (|---|) under the header row above"]);
    let uneven = "| a | b |\n|---|---|\n| 1 |\n| 1 | 2 | 3 |\n";
    let problems = table_problems(uneven);
    assert!(problems.len() == 2 && problems[0].starts_with("line 3: 1 cells") && problems[1].starts_with("line 4: 3"));
    assert_eq!(table_problems("| lonely |\n"), ["line 1: a table of one row (no separator row under it)"]);
}
