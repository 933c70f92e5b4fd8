//! Error paths on directories that look like (old or partial) tracing
//! directories. No root needed; nothing under /sys is touched.
#![allow(clippy::unwrap_used)]

use tracesig::{Config, Error, Instance, Tracefs};

fn fake(with_instances: bool, with_signal: bool) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("events")).unwrap();
    std::fs::write(d.path().join("trace_pipe"), "").unwrap();
    if with_instances {
        std::fs::create_dir(d.path().join("instances")).unwrap();
    }
    if with_signal {
        std::fs::create_dir_all(d.path().join("events/signal/signal_generate")).unwrap();
    }
    d
}

fn cfg(d: &tempfile::TempDir) -> Config {
    Config::default().with_tracefs_root(d.path())
}

#[test]
fn not_a_tracing_dir() {
    let d = tempfile::tempdir().unwrap();
    assert!(matches!(Tracefs::at(d.path()), Err(Error::Unavailable(_))));
}

#[test]
fn kernel_without_instances_is_refused() {
    // Kernels before 3.10: only the global buffer, which we never touch.
    let d = fake(false, true);
    let e = Instance::create(&cfg(&d)).unwrap_err();
    assert!(matches!(e, Error::NoInstances(_)), "{e}");
}

#[test]
fn kernel_without_signal_generate_is_refused() {
    let d = fake(true, false);
    let e = Instance::create(&cfg(&d)).unwrap_err();
    assert!(
        matches!(e, Error::MissingEvent("signal:signal_generate")),
        "{e}"
    );
    // Nothing was created.
    assert_eq!(
        std::fs::read_dir(d.path().join("instances"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn filter_expressions() {
    use tracesig::SignalFilter;
    assert_eq!(SignalFilter::All.expression(), None);
    assert_eq!(
        SignalFilter::Only(vec![9]).expression().as_deref(),
        Some("sig == 9")
    );
    assert_eq!(
        SignalFilter::Only(vec![9, 15]).expression().as_deref(),
        Some("sig == 9 || sig == 15")
    );
    assert_eq!(SignalFilter::Only(vec![]).expression(), None);
}

#[test]
fn instance_names() {
    use tracesig::instance::instance_owner;
    assert_eq!(instance_owner("sigwatch-123"), Some(123));
    assert_eq!(instance_owner("sigwatch-123-4"), Some(123));
    assert_eq!(instance_owner("sigwatch-"), None);
    assert_eq!(instance_owner("sigwatch-0"), None);
    assert_eq!(instance_owner("sigwatch-12a"), None);
    assert_eq!(instance_owner("sigwatch-12-"), None);
    assert_eq!(instance_owner("sigwatch-test-keep-1"), None);
    assert_eq!(instance_owner("other-123"), None);
    assert_eq!(instance_owner("sigwatch-99999999999"), None);
}

#[test]
fn instance_names_carry_the_owner_start_time() {
    use tracesig::instance::instance_identity;
    use tracesig::ProcessIdentity;
    let id = |pid, t| Some(ProcessIdentity::new(pid, t));
    assert_eq!(instance_identity("sigwatch-123-s4567"), id(123, Some(4567)));
    assert_eq!(
        instance_identity("sigwatch-123-s4567-2"),
        id(123, Some(4567))
    );
    // Names of older versions: pid only.
    assert_eq!(instance_identity("sigwatch-123"), id(123, None));
    assert_eq!(instance_identity("sigwatch-123-2"), id(123, None));
    for bad in [
        "sigwatch-123-s",
        "sigwatch-123-sx",
        "sigwatch-123-s1-",
        "sigwatch-123-s1-2-3",
        "sigwatch-123-2-s1",
        "sigwatch-s1",
    ] {
        assert_eq!(instance_identity(bad), None, "{bad}");
    }
}
