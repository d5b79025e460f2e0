//! `vinyasa check`'s diagnostics: a catalogue of broken routines, each
//! pinned with every message it gets.

use std::fs;

use vinyasa::routine;

use crate::util::{SEEDS, root};

#[test]
fn seed_routines_are_clean() {
    for name in SEEDS {
        let path = root().join("routines").join(name);
        match routine::load(&path) {
            Ok((_, report)) => assert!(
                report.diagnostics.is_empty(),
                "{name} has warnings:\n{report}"
            ),
            Err(report) => panic!("{report}"),
        }
    }
}

#[test]
fn broken_routines_catalogue() {
    let dir = root().join("tests/broken");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 30, "only {} broken routines", files.len());
    let mut all = String::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy();
        // Name files relative to the repository so the snapshot is portable.
        let rel = format!("tests/broken/{name}");
        let bytes = fs::read(path).unwrap();
        let result = routine::parse_bytes(&rel, path.parent().unwrap(), &bytes);
        let report = match result {
            Ok((_, report)) => panic!("{rel} passed the check:\n{report}"),
            Err(report) => report,
        };
        assert!(report.has_errors(), "{rel}");
        for d in &report.diagnostics {
            assert!(
                d.help.is_some(),
                "{rel}: no fix offered for {:?}",
                d.message
            );
        }
        all += &format!("──── {rel}\n{report}\n");
    }
    // Paths inside messages (the sounds check) are made relative too.
    let all = all.replace(&format!("{}/", root().display()), "");
    insta::assert_snapshot!("broken_routines", all);
}

#[test]
fn a_missing_file_is_an_error_not_a_panic() {
    let report = routine::load(&root().join("routines/no-such-routine.toml")).unwrap_err();
    let text = report.to_string();
    assert!(
        text.contains("no-such-routine.toml:1:1: cannot read the file"),
        "{text}"
    );
    assert!(text.contains("help: check the path"), "{text}");
}

#[test]
fn a_directory_is_an_error_not_a_panic() {
    let report = routine::load(&root().join("routines")).unwrap_err();
    assert!(
        report.to_string().contains("cannot read the file"),
        "{report}"
    );
}
