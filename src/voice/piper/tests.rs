//! Tests of the Piper engine. Those that speak need Piper: they run with
//! the Python of `VINYASA_TEST_PIPER_PYTHON` (CI sets it), else with the
//! private environment if it is installed; in CI (`CI=true`) a missing
//! Piper fails them instead of skipping them.
