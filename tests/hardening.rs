//! Hostile input: limits, time that grows with the input, and `check`
//! finding what `export` would refuse.

use std::time::{Duration, Instant};

use vinyasa::routine;

/// A routine of `steps` steps, each with an unknown key, so every step
/// makes a diagnostic with a position.
fn steps_with_errors(steps: usize) -> String {
    let mut text = String::from("title = \"Many\"\n");
    for i in 0..steps {
        text.push_str(&format!(
            "[[step]]\nname = \"Step {i}\"\nsay = \"Breathe in {i}.\"\nbogus = {i}\n"
        ));
    }
    text
}

#[test]
fn checking_is_linear_in_steps() {
    // Finding a position used to scan the file from the top: 8,000 steps
    // took 2 s and 10,000 failing ones over 10 s. Linear, this takes well
    // under a second; the bound only catches the quadratic.
    let text = steps_with_errors(10_000);
    let started = Instant::now();
    let report = routine::parse("many.toml", ".".as_ref(), &text).unwrap_err();
    let shown = report.to_string();
    let took = started.elapsed();
    assert_eq!(report.errors().count(), 10_000);
    assert!(
        shown.contains("many.toml:40001:1: unknown key `bogus`"),
        "{}",
        &shown[shown.len() - 300..]
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
}
