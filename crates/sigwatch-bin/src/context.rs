//! Where a process runs, in the operator's words: the systemd unit and the
//! container (runtime, id, Kubernetes pod) that its cgroup path names.
//!
//! Pure functions over the path: the conventions are those the managers
//! themselves use when they create cgroups, so nothing is read from the
//! host. A path that follows no known convention gives `None` for that
//! part — never a guess.
//!
//! | manager | cgroup (systemd driver) | cgroup (cgroupfs driver) |
//! | --- | --- | --- |
//! | systemd | `/system.slice/foo.service`, `/user.slice/user-1000.slice/user@1000.service/app.slice/bar.service` | — |
//! | docker | `/system.slice/docker-ID.scope` | `/docker/ID` |
//! | containerd (CRI) | `/…/kubepods-…-podUID.slice/cri-containerd-ID.scope` | `/kubepods/…/podUID/ID` |
//! | cri-o | `/…/crio-ID.scope` | `/kubepods/…/podUID/crio-ID` |
//! | podman | `/machine.slice/libpod-ID.scope[/container]` | `/libpod_parent/libpod-ID` |
//! | lxc / lxd | — | `/lxc.payload.NAME`, `/lxc/NAME` |
//! | systemd-nspawn | `/machine.slice/systemd-nspawn@NAME.service/payload` | — |
//!
//! `ID` is the 64-hex-digit container id; the Kubernetes pod uid appears
//! with `_` for `-` in systemd slice names and is given back with `-`.

use serde::Serialize;

/// The container a process runs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Container {
    /// `docker`, `containerd`, `cri-o`, `podman`, `lxc`, `systemd-nspawn`;
    /// null when the path names a container but not its runtime (a bare
    /// id under a Kubernetes pod with the cgroupfs driver).
    pub runtime: Option<&'static str>,
    /// The container id (64 hex digits) or name (lxc, nspawn); null for a
    /// process of a pod outside any container (e.g. in the pod's slice).
    /// In a replay, the audit container id of a `CONTAINER_ID` record (a
    /// decimal number an orchestrator assigned; `runtime` is then null).
    pub id: Option<String>,
    /// The Kubernetes pod uid, null outside Kubernetes.
    pub pod_uid: Option<String>,
}

/// The systemd unit and container a cgroup path names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Placement {
    /// The system manager's unit: the first service or scope below the
    /// slices, else the innermost slice.
    pub unit: Option<String>,
    /// The user manager's unit, for processes under `user@UID.service`.
    pub user_unit: Option<String>,
    /// The container.
    pub container: Option<Container>,
}

/// Derives the unit and container from a cgroup path (`/proc/<pid>/cgroup`).
pub fn placement(cgroup: &str) -> Placement {
    let parts: Vec<&str> = cgroup.split('/').filter(|p| !p.is_empty()).collect();
    let (unit, rest) = unit_of(&parts);
    let user_unit = match (unit.as_deref(), rest) {
        (Some(u), Some(rest)) if is_user_manager(u) => unit_of(rest).0,
        _ => None,
    };
    Placement {
        unit,
        user_unit,
        container: container_of(&parts),
    }
}

/// The first service or scope below the slices (with the components after
/// it), else the innermost slice; `None` when the path holds no unit name.
fn unit_of<'a, 'b>(parts: &'b [&'a str]) -> (Option<String>, Option<&'b [&'a str]>) {
    let mut slice = None;
    for (i, p) in parts.iter().enumerate() {
        match unit_kind(p) {
            Some("slice") => slice = Some(*p),
            Some(_) => return (Some((*p).to_string()), Some(&parts[i + 1..])),
            None => break,
        }
    }
    (slice.map(str::to_string), None)
}

/// `service`, `scope` or `slice` for a valid unit name (systemd's
/// `unit_name_is_valid`: a non-empty prefix of `[A-Za-z0-9:_.\-@\\]`).
fn unit_kind(name: &str) -> Option<&'static str> {
    let (prefix, kind) = name.rsplit_once('.')?;
    let kind = match kind {
        "service" => "service",
        "scope" => "scope",
        "slice" => "slice",
        _ => return None,
    };
    let ok = !prefix.is_empty()
        && prefix.len() <= 255
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":_.-@\\".contains(&b));
    ok.then_some(kind)
}

fn is_user_manager(unit: &str) -> bool {
    unit.strip_prefix("user@")
        .and_then(|r| r.strip_suffix(".service"))
        .is_some_and(|uid| !uid.is_empty() && uid.bytes().all(|b| b.is_ascii_digit()))
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `PREFIX<64hex>[.scope]` → the id.
fn id_after<'a>(p: &'a str, prefix: &str) -> Option<&'a str> {
    let id = p.strip_prefix(prefix)?;
    let id = id.strip_suffix(".scope").unwrap_or(id);
    is_hex64(id).then_some(id)
}

/// A Kubernetes pod uid: `pod<uid>` (cgroupfs) or
/// `kubepods[-<qos>]-pod<uid with _>.slice` (systemd), given with `-`.
fn pod_uid_of(p: &str) -> Option<String> {
    let raw = if let Some(s) = p.strip_suffix(".slice") {
        if !s.starts_with("kubepods") {
            return None;
        }
        s.rsplit_once("-pod")?.1
    } else {
        p.strip_prefix("pod")?
    };
    let uid = raw.replace('_', "-");
    let ok = uid.len() == 36
        && uid.bytes().enumerate().all(|(i, b)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        });
    ok.then_some(uid)
}

/// A container named by one path component: (runtime, id).
fn container_component(parts: &[&str], i: usize) -> Option<(Option<&'static str>, String)> {
    let p = parts[i];
    let prev = i.checked_sub(1).map(|j| parts[j]);
    // Monitors (conmon) are not the container.
    if p.starts_with("libpod-conmon-") || p.starts_with("crio-conmon-") {
        return None;
    }
    for (prefix, runtime) in [
        ("docker-", "docker"),
        ("cri-containerd-", "containerd"),
        ("crio-", "cri-o"),
        ("libpod-", "podman"),
    ] {
        if let Some(id) = id_after(p, prefix) {
            return Some((Some(runtime), id.to_string()));
        }
    }
    if let Some(name) = p.strip_prefix("lxc.payload.").filter(|n| !n.is_empty()) {
        return Some((Some("lxc"), name.to_string()));
    }
    if prev == Some("lxc") && !p.is_empty() {
        return Some((Some("lxc"), p.to_string()));
    }
    if let Some(name) = p
        .strip_prefix("systemd-nspawn@")
        .and_then(|r| r.strip_suffix(".service"))
        .filter(|n| !n.is_empty())
    {
        return Some((Some("systemd-nspawn"), name.to_string()));
    }
    if is_hex64(p) {
        let runtime = match prev {
            Some("docker") => Some("docker"),
            // Under a pod (cgroupfs driver) the runtime is not in the path.
            _ => None,
        };
        if prev == Some("docker") || prev.and_then(pod_uid_of).is_some() {
            return Some((runtime, p.to_string()));
        }
    }
    None
}

fn container_of(parts: &[&str]) -> Option<Container> {
    let mut pod_uid = None;
    let mut found = None;
    for i in 0..parts.len() {
        if let Some(uid) = pod_uid_of(parts[i]) {
            pod_uid = Some(uid);
        }
        if found.is_none() {
            found = container_component(parts, i);
        }
    }
    match (found, pod_uid) {
        (None, None) => None,
        (Some((runtime, id)), pod_uid) => Some(Container {
            runtime,
            id: Some(id),
            pod_uid,
        }),
        (None, pod_uid) => Some(Container {
            runtime: None,
            id: None,
            pod_uid,
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const ID: &str = "4f3c9a1e2b7d8c6f5a4e3d2c1b0a9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e";
    const POD: &str = "0f9e8d7c-6b5a-4c3d-9e2f-1a0b9c8d7e6f";

    fn c(runtime: Option<&'static str>, id: Option<&str>, pod: Option<&str>) -> Option<Container> {
        Some(Container {
            runtime,
            id: id.map(str::to_string),
            pod_uid: pod.map(str::to_string),
        })
    }

    #[test]
    fn systemd_units_system_and_user() {
        let p = placement("/system.slice/nginx.service");
        assert_eq!(p.unit.as_deref(), Some("nginx.service"));
        assert_eq!(p.user_unit, None);
        assert_eq!(p.container, None);
        let p = placement("/user.slice/user-1000.slice/session-3.scope");
        assert_eq!(p.unit.as_deref(), Some("session-3.scope"));
        let p =
            placement("/user.slice/user-1000.slice/user@1000.service/app.slice/app-firefox.scope");
        assert_eq!(p.unit.as_deref(), Some("user@1000.service"));
        assert_eq!(p.user_unit.as_deref(), Some("app-firefox.scope"));
        let p = placement("/user.slice/user-1000.slice/user@1000.service/app.slice");
        assert_eq!(p.user_unit.as_deref(), Some("app.slice"));
        // A service's own sub-cgroups stay the service's.
        let p = placement("/system.slice/foo.service/worker");
        assert_eq!(p.unit.as_deref(), Some("foo.service"));
        // Only slices: the innermost one.
        assert_eq!(
            placement("/system.slice").unit.as_deref(),
            Some("system.slice")
        );
        assert_eq!(placement("/").unit, None);
        assert_eq!(placement("/foo/bar.service").unit, None);
        // An invalid unit name below a slice: the slice is what is known.
        assert_eq!(
            placement("/system.slice/.service").unit.as_deref(),
            Some("system.slice")
        );
        assert_eq!(
            placement("/system.slice/a b.service").unit.as_deref(),
            Some("system.slice")
        );
        // systemd escapes in names are kept as written.
        assert_eq!(
            placement("/system.slice/system-getty.slice/getty@tty1.service")
                .unit
                .as_deref(),
            Some("getty@tty1.service")
        );
    }

    #[test]
    fn docker_both_drivers() {
        let p = placement(&format!("/system.slice/docker-{ID}.scope"));
        assert_eq!(p.unit, Some(format!("docker-{ID}.scope")));
        assert_eq!(p.container, c(Some("docker"), Some(ID), None));
        assert_eq!(
            placement(&format!("/docker/{ID}")).container,
            c(Some("docker"), Some(ID), None)
        );
        // Not a container id: too short, or not hex.
        assert_eq!(placement("/docker/abc").container, None);
        assert_eq!(
            placement(&format!("/system.slice/docker-{}.scope", &ID[1..])).container,
            None
        );
        // A bare id elsewhere says nothing.
        assert_eq!(placement(&format!("/{ID}")).container, None);
    }

    #[test]
    fn kubernetes_pods() {
        let us = POD.replace('-', "_");
        let p = placement(&format!(
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{us}.slice/cri-containerd-{ID}.scope"
        ));
        assert_eq!(p.unit, Some(format!("cri-containerd-{ID}.scope")));
        assert_eq!(p.container, c(Some("containerd"), Some(ID), Some(POD)));
        let p = placement(&format!(
            "/kubepods.slice/kubepods-pod{us}.slice/crio-{ID}.scope"
        ));
        assert_eq!(p.container, c(Some("cri-o"), Some(ID), Some(POD)));
        let p = placement(&format!("/kubepods/besteffort/pod{POD}/{ID}"));
        assert_eq!(p.unit, None);
        assert_eq!(p.container, c(None, Some(ID), Some(POD)));
        let p = placement(&format!("/kubepods/pod{POD}/crio-{ID}"));
        assert_eq!(p.container, c(Some("cri-o"), Some(ID), Some(POD)));
        // The pod's own cgroup: a pod, no container.
        let p = placement(&format!("/kubepods/burstable/pod{POD}"));
        assert_eq!(p.container, c(None, None, Some(POD)));
        // cri-o's monitor is not the container.
        let p = placement(&format!(
            "/kubepods.slice/kubepods-pod{us}.slice/crio-conmon-{ID}.scope"
        ));
        assert_eq!(p.container, c(None, None, Some(POD)));
        assert_eq!(
            placement("/kubepods/burstable/podnot-a-uid").container,
            None
        );
    }

    #[test]
    fn podman_lxc_nspawn() {
        let p = placement(&format!("/machine.slice/libpod-{ID}.scope/container"));
        assert_eq!(p.unit, Some(format!("libpod-{ID}.scope")));
        assert_eq!(p.container, c(Some("podman"), Some(ID), None));
        let p = placement(&format!("/libpod_parent/libpod-{ID}"));
        assert_eq!(p.container, c(Some("podman"), Some(ID), None));
        assert_eq!(
            placement(&format!("/machine.slice/libpod-conmon-{ID}.scope")).container,
            None
        );
        let p = placement(&format!(
            "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope"
        ));
        assert_eq!(p.user_unit, Some(format!("libpod-{ID}.scope")));
        assert_eq!(p.container, c(Some("podman"), Some(ID), None));
        assert_eq!(
            placement("/lxc.payload.web1").container,
            c(Some("lxc"), Some("web1"), None)
        );
        assert_eq!(
            placement("/lxc/web1/init.scope").container,
            c(Some("lxc"), Some("web1"), None)
        );
        assert_eq!(placement("/lxc.monitor.web1").container, None);
        let p = placement("/machine.slice/systemd-nspawn@deb.service/payload");
        assert_eq!(p.unit.as_deref(), Some("systemd-nspawn@deb.service"));
        assert_eq!(p.container, c(Some("systemd-nspawn"), Some("deb"), None));
    }

    #[test]
    fn hostile_paths_never_panic() {
        for p in [
            "",
            "/",
            "//",
            "/.slice",
            "/pod",
            "/kubepods-pod.slice",
            "/lxc.payload.",
            "/lxc",
            "/\u{202e}.service",
        ] {
            let _ = placement(p);
        }
    }
}
