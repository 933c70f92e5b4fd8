//! `fuzz_target!` for ordinary builds: the body of a cargo-fuzz target
//! becomes `pub fn run(data: &[u8])` in the module that includes the
//! target's file. A test crate depends on this crate renamed to
//! `libfuzzer_sys` and includes the target itself:
//!
//! ```ignore
//! #[allow(unused_attributes)] // the target's `#![no_main]`
//! #[path = "../../../fuzz/fuzz_targets/proc_event_parse.rs"]
//! mod target;
//! target::run(&data);
//! ```
//!
//! So the corpus replay runs exactly the code the fuzzer runs, and a
//! target that no longer compiles fails `cargo test`, without nightly.

/// Defines `pub fn run(data: &[u8])` with the fuzz target's body.
#[macro_export]
macro_rules! fuzz_target {
    (|$data:ident: &[u8]| $body:block) => {
        /// The fuzz target's body, run on one input.
        pub fn run($data: &[u8]) $body
    };
}
